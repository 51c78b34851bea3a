#!/usr/bin/env bash
# `make demo`: the bundled example end to end. Runs the pretrained CIFAR-10 ResNet20 (akamaster, exported
# from PyTorch to ONNX by scripts/make_test_models.py) on 16 bundled images with both backends, compares the
# logits with PyTorch's, lists its fault targets and measures clean throughput.
set -euo pipefail
faultline=${1:-build/faultline}
root=$(cd "$(dirname "$0")/.." && pwd)
models=$root/tests/data/models
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== fault targets of ResNet20 (BatchNorm kept, PyTorch names) =="
"$faultline" layers "$models/resnet20_bn.onnx" >"$out/layers.txt"
head -8 "$out/layers.txt"
echo "   ..."
tail -2 "$out/layers.txt"
echo
echo "== inference: 16 images, top-2 classes (onednn backend) =="
"$faultline" infer "$models/resnet20.onnx" --input "$models/resnet20_input.npy" --output "$out/onednn.npy" --top 2 \
  >"$out/top.txt"
head -6 "$out/top.txt"
echo "   ..."
"$faultline" infer "$models/resnet20.onnx" --input "$models/resnet20_input.npy" --output "$out/reference.npy" \
  --backend reference >/dev/null
echo
echo "== agreement with PyTorch (tests/data/models/resnet20_logits.npy) =="
"$faultline" compare "$models/resnet20_logits.npy" "$out/onednn.npy" --label "onednn vs PyTorch"
"$faultline" compare "$models/resnet20_logits.npy" "$out/reference.npy" --label "reference vs PyTorch"
echo
echo "== clean throughput (batch 100, all cores) =="
"$faultline" bench "$models/resnet20.onnx" --batch 100 --images 2000 --repeat 3
