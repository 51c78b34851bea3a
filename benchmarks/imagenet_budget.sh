#!/usr/bin/env bash
# An ImageNet-sized model under the golden budget: a torchvision model (ResNet-50 by default; random weights,
# seed 0, 224x224, BatchNorm kept), random images, random activation and weight faults (one bit each), each
# list run with every golden value of a batch kept, with less memory (passes on fewer images; README, "How it
# works"), and in full passes. Prints the wall time, the peak memory (/usr/bin/time) and whether summary.csv is
# the full passes' byte for byte, for each run.
#
#   benchmarks/imagenet_budget.sh [--model NAME] [--faults F] [--images N] [--batch B] [--budgets "MB MB ..."]
#                                 [--pass-batch-mb "MB MB ..."] [--threads T] [--build DIR] [--keep]
#
# --model    a torchvision.models constructor (default resnet50; e.g. mobilenet_v2, vgg11, densenet121)
# --faults   faults per list (default 12)
# --images   images (default 40)
# --batch    batch_size (default 20)
# --budgets  golden_budget_mb values to run (default "4096 400": every value of a batch of 20 kept, 1.7 GB;
#            then passes of 4 images)
# --pass-batch-mb  each budget also runs with these caps on one pass's golden values
#            (FAULTLINE_PASS_BATCH_MB; default: none, the built-in 512 MB)
# --threads  threads (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
faults=12 images=40 batch=20 budgets="4096 400" threads=2 keep=0 model=resnet50 caps=""
build_dir="$repo_root/build"
python=/usr/bin/python3
die() { echo "imagenet_budget.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="${2:?}"; shift 2 ;;
    --pass-batch-mb) caps="${2:?}"; shift 2 ;;
    --faults) faults="${2:?}"; shift 2 ;;
    --images) images="${2:?}"; shift 2 ;;
    --batch) batch="${2:?}"; shift 2 ;;
    --budgets) budgets="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --build) build_dir="${2:?}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$model" =~ ^[a-z0-9_]+$ ]] || die "--model takes a torchvision.models constructor name, got '$model'"
for n in $faults $images $batch $budgets $caps $threads; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "options take integers, got '$n'"
done
faultline="$build_dir/faultline"
[[ -x "$faultline" ]] || die "no faultline command at '$faultline' (build first, or pass --build)"
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (Debian package time) for the peak memory"

work=$(mktemp -d)
if [[ $keep -eq 1 ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
"$python" -W ignore - "$work" "$images" "$model" <<'EOF2' >/dev/null || die "cannot export torchvision's $model"
import sys, numpy as np, torch, torchvision
work, images, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
net = getattr(torchvision.models, name)().eval()
torch.onnx.export(net, torch.zeros(1, 3, 224, 224), f"{work}/model.onnx", opset_version=13,
                  input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                  do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
np.save(f"{work}/images.npy", np.random.default_rng(1).standard_normal((images, 3, 224, 224)).astype(np.float32))
EOF2
echo "torchvision $model, $faults faults x $images images per list, batch $batch, $threads threads"
printf '%-11s %-42s %9s %11s  %s\n' list mode seconds "peak MB" "summary = full passes"
for target in activation weight; do
  runs=(full)
  for budget in $budgets; do
    runs+=("$budget")
    for cap in $caps; do runs+=("$budget:$cap"); done
  done
  for run in "${runs[@]}"; do
    budget=${run%%:*} cap=""
    [[ $run != *:* ]] || cap=${run#*:}
    out="$work/out_${target}_${run/:/_}"
    yaml="$work/${target}_${run/:/_}.yaml"
    printf 'model: model.onnx\nbackend: onednn\nthreads: %s\nbatch_size: %s\ndataset: {format: npy, inputs: images.npy}\nfaults:\n  generate: {target: %s, layers: ["*"], bits: "0-31", model: bitflip, count: %s, seed: 3}\noutput: %s\n' \
      "$threads" "$batch" "$target" "$faults" "$out" >"$yaml"
    args=(run "$yaml" --quiet)
    if [[ $run == full ]]; then args+=(--full-passes); mode="full passes"; else
      echo "golden_budget_mb: $budget" >>"$yaml"; mode="golden_budget_mb $budget${cap:+, pass cap $cap MB}"; fi
    log="$work/${target}_${run/:/_}.log"
    start=$EPOCHREALTIME
    (cd "$work" && env ${cap:+FAULTLINE_PASS_BATCH_MB=$cap} /usr/bin/time -f "%M" -o "$log.rss" "$faultline" \
       "${args[@]}" >"$log" 2>&1) || die "faultline ${args[*]} failed: $(tail -1 "$log")"
    seconds=$("$python" -c "print(f'{$EPOCHREALTIME - $start:.1f}')")
    peak=$(( $(tail -1 "$log.rss") / 1024 ))
    same="-"
    [[ $run == full ]] || { cmp -s "$out/summary.csv" "$work/out_${target}_full/summary.csv" && same=yes || same=NO; }
    printf '%-11s %-42s %9s %11s  %s\n' "$target" "$mode" "$seconds" "$peak" "$same"
  done
done
