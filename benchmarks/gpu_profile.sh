#!/usr/bin/env bash
# Where the cuda backend's time goes, next to PyTorch's kernels, on the GPU machine: for each model, faultline
# bench with FAULTLINE_CUDA_PROFILE=1 (CUDA events around every step: time per kernel kind and the slowest
# steps) and FAULTLINE_CUDA_VERBOSE=1 (the plan: each step's kernel and algorithm), the same bench with cuDNN's
# heuristics instead of its timed algorithm search (FAULTLINE_CUDA_CONV_SEARCH=0), then torch.profiler over the same number of PyTorch eager passes of torchvision's ResNet-50 (self CUDA
# time per kernel). A diagnosis for speed work, not a benchmark: the events serialise nothing but add a little.
#
#   benchmarks/gpu_profile.sh FAULTLINE RESNET50_ONNX [BATCH]     # after benchmarks/gpu_compare.sh --work DIR
#
# FAULTLINE_CUDA_TF32=1 and PyTorch's allow_tf32 are set, as in gpu_compare.py's inference figures.
set -euo pipefail
faultline="${1:?usage: gpu_profile.sh FAULTLINE RESNET50_ONNX [BATCH]}"
resnet50="${2:?usage: gpu_profile.sh FAULTLINE RESNET50_ONNX [BATCH]}"
batch="${3:-256}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for spec in "$resnet50:$batch:$((batch * 4))" "$repo_root/tests/data/models/resnet20.onnx:1000:10000"; do
  IFS=: read -r model b n <<<"$spec"
  echo "== faultline bench $(basename "$model") --batch $b --images $n (FAULTLINE_CUDA_PROFILE=1)"
  # (CUDA_MODULE_LOADING=EAGER: kernels load at start, not in the first timed run)
  CUDA_MODULE_LOADING=EAGER FAULTLINE_CUDA_TF32=1 FAULTLINE_CUDA_PROFILE=1 FAULTLINE_CUDA_VERBOSE=1 "$faultline" bench \
    "$model" --backend cuda --batch "$b" --images "$n" --repeat 1 2>&1 | grep -v '^\s*$'
  echo "== the same with cuDNN's heuristics instead of its timed search (FAULTLINE_CUDA_CONV_SEARCH=0)"
  FAULTLINE_CUDA_CONV_SEARCH=0 FAULTLINE_CUDA_TF32=1 "$faultline" bench "$model" --backend cuda --batch "$b" \
    --images "$n" --repeat 3 2>&1 | grep 'images/s'
done
echo "== torch.profiler: torchvision resnet50, batch $batch, 4 passes, TF32 allowed"
PYTHONUNBUFFERED=1 python3 - "$batch" <<'PY'
import sys, torch, torchvision
from torch.profiler import profile, ProfilerActivity
batch = int(sys.argv[1])
torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
model = torchvision.models.resnet50().cuda().eval()
x = torch.randn(batch, 3, 224, 224, device="cuda")
with torch.no_grad():
    for _ in range(3): model(x)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(4): model(x)
        torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=90))
PY
