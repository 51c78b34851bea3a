#!/usr/bin/env bash
# Window re-execution (engine/incremental_executor.h) against whole-step incremental passes on the peer's
# ResNet20 at a chosen image size: how much of a permanent activation (neuron) fault's recomputation the
# spatial cone saves as the feature maps grow. One faultline build, the same model, images and fault list;
# the two modes alternated (FAULTLINE_WINDOWS=0 turns windows off); summary.csv compared byte for byte.
#
#   benchmarks/window_compare.sh [PEER_DIR] [--size S] [--faults F] [--images N] [--threads T] [--runs R]
#                                [--build DIR] [--keep]
#
# PEER_DIR   the peer harness (model.py); default ../shared/bench/peer next to the repository
# --size     image height and width (default 32, the peer's CIFAR size; ResNet20 ends in a global pool, so
#            any size runs: 64 gives 64/32/16 maps)
# --faults   random activation faults on conv / linear outputs, one bit each (default 100)
# --images   images per fault, a multiple of the batch 100 (default 500)
# --threads  threads (default 2)
# --runs     runs of each mode, alternated (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer_dir="$repo_root/../shared/bench/peer"
size=32 faults=100 images=500 threads=2 runs=2 keep=0
build_dir="$repo_root/build"
python=/usr/bin/python3
die() { echo "window_compare.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="${2:?}"; shift 2 ;;
    --faults) faults="${2:?}"; shift 2 ;;
    --images) images="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --runs) runs="${2:?}"; shift 2 ;;
    --build) build_dir="${2:?}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) peer_dir="$1"; shift ;;
  esac
done
for n in "$size" "$faults" "$images" "$threads" "$runs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "options take positive integers, got '$n'"
done
[[ $((images % 100)) -eq 0 ]] || die "--images must be a multiple of the batch 100, got '$images'"
[[ -f "$peer_dir/model.py" ]] || die "'$peer_dir' is not the peer harness"
faultline="$build_dir/faultline"
[[ -x "$faultline" ]] || die "no faultline command at '$faultline' (build first, or pass --build)"

work=$(mktemp -d)
if [[ $keep -eq 1 ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
(cd "$peer_dir" && "$python" -W ignore - "$work" "$size" "$images" <<'EOF2'
import sys, numpy as np, torch, model
work, size, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
net = model.resnet20()
net.eval()
torch.onnx.export(net, torch.zeros(1, 3, size, size), f"{work}/resnet20_bn.onnx", opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=False,
                  training=torch.onnx.TrainingMode.PRESERVE)
g = torch.Generator().manual_seed(1)
np.save(f"{work}/images.npy", torch.randn(images, 3, size, size, generator=g).numpy())
EOF2
) >/dev/null
"$faultline" faults generate "$work/resnet20_bn.onnx" --count "$faults" --target activation --seed 7 \
  -o "$work/neuron.csv" >/dev/null
for mode in 1 0; do
  printf 'model: resnet20_bn.onnx\nbackend: onednn\nthreads: %s\nbatch_size: 100\ndataset: {format: npy, inputs: images.npy}\nfaults: {list: neuron.csv}\noutput: results_%s\n' \
    "$threads" "$mode" >"$work/windows_$mode.yaml"
done
# A first run after the machine idled paid seconds of system time for fresh memory here (either mode), so
# one untimed run of each mode comes first.
for mode in 1 0; do
  (cd "$work" && FAULTLINE_WINDOWS=$mode "$faultline" run "windows_$mode.yaml" --quiet >/dev/null)
done
for ((r = 1; r <= runs; ++r)); do
  for mode in 1 0; do
    rm -rf "$work/results_$mode"
    start=$EPOCHREALTIME
    (cd "$work" && FAULTLINE_WINDOWS=$mode "$faultline" run "windows_$mode.yaml" --quiet >/dev/null)
    seconds=$("$python" -c "print(f'{$EPOCHREALTIME - $start:.2f}')")
    echo "run $r, windows $([[ $mode == 1 ]] && echo on || echo off): $seconds s"
  done
done
cmp -s "$work/results_1/summary.csv" "$work/results_0/summary.csv" && same=yes || same=NO
echo "size ${size}x${size}, $faults activation faults x $images images: the same summary.csv with and without windows: $same"
[[ $same == yes ]]
