#!/usr/bin/env bash
# Fault-campaign throughput of faultline and of the PyTorch peer baseline, side by side in one run on the same
# machine, on the same network, images and fault lists, with the per-fault outcomes compared.
#
#   benchmarks/campaign_compare.sh [PEER_DIR] [--faults F] [--images N] [--threads T] [--build DIR] [--keep]
#                                  [--transient K] [--golden-budget MB]
#
# PEER_DIR   the peer harness (model.py, peer_campaign.py); default ../shared/bench/peer next to the repository
# --faults   faults per campaign (default 50)
# --images   images per fault, a multiple of the batch 100 (default 500)
# --threads  threads for both engines (default 2)
# --build    faultline build folder holding the `faultline` command (default build)
# --keep     keep the temporary folder (ONNX, images, fault lists, peer JSON, faultline results)
# --transient K  also K transient activation faults (one bit of one element of a conv/linear output, in one
#            image drawn over the N images): the by-hand PyTorch way (benchmarks/transient_peer.py: a forward
#            hook, only the fault's image run, batch 1) against faultline (persistence inference: faults on
#            distinct images of a batch share one pass) and faultline --full-passes, outcomes compared
# --golden-budget MB  faultline's campaigns with `golden_budget_mb: MB`: below one batch's golden values (162 MB
#            for these lists) they run passes on fewer images with every value kept (10 images at 30 MB), or
#            below one image's (1.6 MB) checkpoints only (README, "How it works")
#
# What runs, in this order:
#   1. model.py --onnx --keep-bn: the peer's ResNet20 (shortcut B, seed 0, BatchNorm kept so its convolutions'
#      outputs exist as in PyTorch), and the peer's images (model.random_images, seed 1) saved as .npy;
#   2. peer_campaign.py --skip clean,pfi_*: the by-hand PyTorch weight campaign (flip one bit of one conv /
#      linear weight, run every image, restore) and neuron campaign (a forward hook flips one bit of one
#      element of a conv / linear output in every image), which PyTorchFI trails by 2-17 %;
#   3. the same two fault lists (peer.json "faults") written as faultline fault lists, and `faultline run` on
#      each (BatchNorm kept, batch 100, the same threads). faultline's time is the whole command's wall time:
#      loading, planning, the golden pass and the campaign.
# faultline then runs both lists again with --full-passes (every fault through the whole network).
# The table gives fault-images/s (faults x images / seconds) and faultline's ratio to the peer; the last column
# says whether every fault's number of top-1 changes is the same (peer sdc_per_fault, faultline `critical`;
# images with NaN/Inf logits are faultline's `due`, which the peer's argmax counts as SDC: for such faults
# the peer's count must lie in [critical, critical + due], and the NaN/Inf image totals must be equal).
# Compare ratios from one run, not absolute figures across runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer_dir="$repo_root/../shared/bench/peer"
faults=50
images=500
threads=2
batch=100
build_dir="$repo_root/build"
keep=0
transient=0
golden_budget=""
python=/usr/bin/python3

die() { echo "campaign_compare.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --faults) faults="${2:?--faults needs a value}"; shift 2 ;;
    --images) images="${2:?--images needs a value}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
    --build) build_dir="${2:?--build needs a value}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --transient) transient="${2:?--transient needs a value}"; shift 2 ;;
    --golden-budget) golden_budget="${2:?--golden-budget needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) peer_dir="$1"; shift ;;
  esac
done
[[ "$faults" =~ ^[1-9][0-9]*$ ]] || die "--faults must be a positive integer, got '$faults'"
[[ "$images" =~ ^[0-9]+$ && "$images" -gt 0 && $((images % batch)) -eq 0 ]] \
  || die "--images must be a positive multiple of the batch size $batch, got '$images'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ "$transient" =~ ^[0-9]+$ ]] || die "--transient must be a non-negative integer, got '$transient'"
[[ -z "$golden_budget" || "$golden_budget" =~ ^[0-9]+$ ]] \
  || die "--golden-budget must be a non-negative integer (MB), got '$golden_budget'"
[[ -f "$peer_dir/model.py" && -f "$peer_dir/peer_campaign.py" ]] || die "'$peer_dir' is not the peer harness"
faultline="$build_dir/faultline"
[[ -x "$faultline" ]] || die "no faultline command at '$faultline' (build first, or pass --build)"

work=$(mktemp -d)
if [[ $keep -eq 1 ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

echo "1/3 exporting the peer's network and images" >&2
(cd "$peer_dir" && "$python" -W ignore model.py --onnx "$work/resnet20_bn.onnx" --keep-bn >/dev/null)
(cd "$peer_dir" && "$python" -W ignore -c "
import sys, numpy as np, model
np.save(sys.argv[1], model.random_images($images).numpy())" "$work/images.npy")

echo "2/3 peer campaigns (PyTorch, $faults faults x $images images each)" >&2
(cd "$peer_dir" && OMP_NUM_THREADS=$threads "$python" -W ignore peer_campaign.py --faults "$faults" --images "$images" \
   --batch $batch --seed 0 --threads "$threads" --skip clean,pfi_weight,pfi_neuron --json "$work/peer.json" >/dev/null)

echo "3/3 faultline campaigns on the same lists" >&2
"$python" - "$work" "$threads" "$golden_budget" <<'EOF'
import json, sys
work, threads, budget = sys.argv[1], sys.argv[2], sys.argv[3]
peer = json.load(open(f"{work}/peer.json"))
f = peer["faults"]
for kind, target in (("weight", "weight"), ("neuron", "activation")):
    with open(f"{work}/{kind}.csv", "w") as out:
        out.write("Injection,Layer,TensorIndex,Bit,Target\n")
        for i, (layer, flat, bit) in enumerate(f[kind]):
            out.write(f"{i},{f['layers'][layer]},{flat},{bit},{target}\n")
    with open(f"{work}/{kind}.yaml", "w") as out:
        out.write(f"model: resnet20_bn.onnx\nbackend: onednn\nthreads: {threads}\nbatch_size: 100\n"
                  f"dataset: {{format: npy, inputs: images.npy}}\nfaults: {{list: {kind}.csv}}\n"
                  f"output: results_{kind}\n" + (f"golden_budget_mb: {budget}\n" if budget else ""))
EOF
times=()
for kind in weight neuron; do
  start=$EPOCHREALTIME
  "$faultline" run "$work/$kind.yaml" --quiet >"$work/$kind.log"
  times+=("$start" "$EPOCHREALTIME")
done
# The same campaigns with every fault through the whole network, for the share of the incremental passes.
for kind in weight neuron; do
  sed "s|^output: .*|output: results_${kind}_full|" "$work/$kind.yaml" >"$work/${kind}_full.yaml"
  start=$EPOCHREALTIME
  "$faultline" run "$work/${kind}_full.yaml" --quiet --full-passes >"$work/${kind}_full.log"
  times+=("$start" "$EPOCHREALTIME")
done

transient_times=()
if [[ $transient -gt 0 ]]; then
  echo "transient campaigns (PyTorch, then faultline; $transient faults, one image each)" >&2
  OMP_NUM_THREADS=$threads "$python" -W ignore "$repo_root/benchmarks/transient_peer.py" "$peer_dir" \
    --faults "$transient" --images "$images" --threads "$threads" --list "$work/transient.csv" \
    --json "$work/transient_peer.json"
  for mode in incremental full; do
    sed "s|^faults: .*|faults: {list: transient.csv}|; s|^output: .*|output: results_transient_$mode|" \
      "$work/weight.yaml" >"$work/transient_$mode.yaml"
    flag=""; [[ $mode == full ]] && flag="--full-passes"
    start=$EPOCHREALTIME
    "$faultline" run "$work/transient_$mode.yaml" --quiet $flag >/dev/null
    transient_times+=("$start" "$EPOCHREALTIME")
  done
fi

"$python" - "$repo_root/benchmarks" "$work" "${times[@]}" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import campaign_outcomes
work = sys.argv[2]
t = [float(x) for x in sys.argv[3:]]
ours = {"weight": t[1] - t[0], "neuron": t[3] - t[2]}
full = {"weight": t[5] - t[4], "neuron": t[7] - t[6]}
peer = json.load(open(f"{work}/peer.json"))
print(f"{'campaign':<10} {'faults':>6} {'images':>6} {'peer fault-img/s':>17} {'faultline fault-img/s':>22} "
      f"{'ratio':>6} {'full passes':>12} {'ratio':>6}  same outcomes")
for kind in ("weight", "neuron"):
    p = peer["campaigns"][f"native_{kind}"]
    rows = campaign_outcomes.faultline_summary(f"{work}/results_{kind}")
    fi = p["fault_images"]
    ours_rate = fi / ours[kind]
    # Equal top-1 change counts per fault, NaN/Inf images allowed for (benchmarks/campaign_outcomes.py).
    same, differing = campaign_outcomes.compare(rows, p["sdc_per_fault"], p["nonfinite_fault_images"])
    full_rows = campaign_outcomes.faultline_summary(f"{work}/results_{kind}_full")
    same = same and full_rows == rows  # full passes give the same outcomes
    full_rate = fi / full[kind]
    print(f"{kind:<10} {p['faults']:>6} {p['images']:>6} {p['fault_images_per_s']:>17.0f} {ours_rate:>22.0f} "
          f"{ours_rate / p['fault_images_per_s']:>5.1f}x {full_rate:>12.0f} {full_rate / p['fault_images_per_s']:>5.1f}x"
          f"  {'yes' if same else 'NO'}"
          f"  (peer other-cpu {p.get('other_cpu', 0):.2f})")
    if not same:
        print("   " + campaign_outcomes.describe(rows, p["nonfinite_fault_images"], differing)
              + ("" if full_rows == rows else "; --full-passes gave other outcomes"))
EOF
if [[ $transient -gt 0 ]]; then
  "$python" - "$repo_root/benchmarks" "$work" "${transient_times[@]}" <<'EOF'
import filecmp, json, sys
sys.path.insert(0, sys.argv[1])
import campaign_outcomes
work = sys.argv[2]
t = [float(x) for x in sys.argv[3:]]
inc, full = t[1] - t[0], t[3] - t[2]
peer = json.load(open(f"{work}/transient_peer.json"))
rows = campaign_outcomes.faultline_summary(f"{work}/results_transient_incremental")
same, differing = campaign_outcomes.compare(rows, peer["sdc_per_fault"], peer["nonfinite_fault_images"])
same = same and filecmp.cmp(f"{work}/results_transient_incremental/summary.csv",
                            f"{work}/results_transient_full/summary.csv", shallow=False)
k = peer["faults"]
print(f"{'transient':<10} {k:>6} {'1 each':>6} {k / peer['seconds']:>17.0f} {k / inc:>22.0f} "
      f"{peer['seconds'] / inc:>5.1f}x {k / full:>12.0f} {peer['seconds'] / full:>5.1f}x  {'yes' if same else 'NO'}"
      f"  (faults/s; peer other-cpu {peer.get('other_cpu') or 0:.2f})")
if not same:
    print("   " + campaign_outcomes.describe(rows, peer["nonfinite_fault_images"], differing))
EOF
fi
