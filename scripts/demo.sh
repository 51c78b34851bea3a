#!/usr/bin/env bash
# `make demo`: the bundled example end to end. Runs the pretrained CIFAR-10 ResNet20 (akamaster, exported
# from PyTorch to ONNX by scripts/make_test_models.py) on 16 bundled images with both backends, compares the
# logits with PyTorch's, lists its fault targets, runs a small weight-fault campaign and measures clean
# throughput.
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
echo "== a weight-fault campaign: 300 bit flips x 16 images (examples/resnet20_weight_campaign.yaml) =="
sed "s|^output: .*|output: $out/campaign|" "$root/examples/resnet20_weight_campaign.yaml" >"$out/campaign.yaml"
sed -i "s|\.\./tests/|$root/tests/|g" "$out/campaign.yaml"
"$faultline" run "$out/campaign.yaml" --quiet
echo "per layer (critical = top-1 changed):"
awk -F, 'NR <= 8 { printf "  %-16s %-14s %-10s %s\n", $1, $3, $10, $11 }' "$out/campaign/layers.csv"
echo "   ..."
echo
echo "== clean throughput (batch 100, all cores) =="
"$faultline" bench "$models/resnet20.onnx" --batch 100 --images 2000 --repeat 3
