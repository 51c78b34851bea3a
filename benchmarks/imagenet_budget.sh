#!/usr/bin/env bash
# An ImageNet-sized model under the golden budget: torchvision's ResNet-50 (random weights, seed 0, 224x224,
# BatchNorm kept), random images, random activation and weight faults (one bit each), each list run with
# every golden value of a batch kept, with less memory (passes on fewer images; README, "How it works"), and
# in full passes. Prints the wall time, the peak memory (/usr/bin/time) and whether summary.csv is the full
# passes' byte for byte, for each run.
#
#   benchmarks/imagenet_budget.sh [--faults F] [--images N] [--batch B] [--budgets "MB MB ..."] [--threads T]
#                                 [--build DIR] [--keep]
#
# --faults   faults per list (default 12)
# --images   images (default 40)
# --batch    batch_size (default 20)
# --budgets  golden_budget_mb values to run (default "4096 400": every value of a batch of 20 kept, 1.7 GB;
#            then passes of 4 images)
# --threads  threads (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
faults=12 images=40 batch=20 budgets="4096 400" threads=2 keep=0
build_dir="$repo_root/build"
python=/usr/bin/python3
die() { echo "imagenet_budget.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --faults) faults="${2:?}"; shift 2 ;;
    --images) images="${2:?}"; shift 2 ;;
    --batch) batch="${2:?}"; shift 2 ;;
    --budgets) budgets="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --build) build_dir="${2:?}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for n in $faults $images $batch $budgets $threads; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "options take integers, got '$n'"
done
faultline="$build_dir/faultline"
[[ -x "$faultline" ]] || die "no faultline command at '$faultline' (build first, or pass --build)"
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (Debian package time) for the peak memory"

work=$(mktemp -d)
if [[ $keep -eq 1 ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
"$python" -W ignore - "$work" "$images" <<'EOF2' >/dev/null
import sys, numpy as np, torch, torchvision
work, images = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
net = torchvision.models.resnet50().eval()
torch.onnx.export(net, torch.zeros(1, 3, 224, 224), f"{work}/resnet50.onnx", opset_version=13,
                  input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                  do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
np.save(f"{work}/images.npy", np.random.default_rng(1).standard_normal((images, 3, 224, 224)).astype(np.float32))
EOF2
echo "ResNet-50, $faults faults x $images images per list, batch $batch, $threads threads"
printf '%-11s %-22s %9s %11s  %s\n' list mode seconds "peak MB" "summary = full passes"
for target in activation weight; do
  runs=(full $budgets)
  for run in "${runs[@]}"; do
    out="$work/out_${target}_$run"
    yaml="$work/${target}_$run.yaml"
    printf 'model: resnet50.onnx\nbackend: onednn\nthreads: %s\nbatch_size: %s\ndataset: {format: npy, inputs: images.npy}\nfaults:\n  generate: {target: %s, layers: ["*"], bits: "0-31", model: bitflip, count: %s, seed: 3}\noutput: %s\n' \
      "$threads" "$batch" "$target" "$faults" "$out" >"$yaml"
    args=(run "$yaml" --quiet)
    if [[ $run == full ]]; then args+=(--full-passes); mode="full passes"; else
      echo "golden_budget_mb: $run" >>"$yaml"; mode="golden_budget_mb $run"; fi
    log="$work/${target}_$run.log"
    start=$EPOCHREALTIME
    (cd "$work" && /usr/bin/time -f "%M" -o "$log.rss" "$faultline" "${args[@]}" >"$log" 2>&1) ||
      die "faultline ${args[*]} failed: $(tail -1 "$log")"
    seconds=$("$python" -c "print(f'{$EPOCHREALTIME - $start:.1f}')")
    peak=$(( $(tail -1 "$log.rss") / 1024 ))
    same="-"
    [[ $run == full ]] || { cmp -s "$out/summary.csv" "$work/out_${target}_full/summary.csv" && same=yes || same=NO; }
    printf '%-11s %-22s %9s %11s  %s\n' "$target" "$mode" "$seconds" "$peak" "$same"
  done
done
