#!/usr/bin/python3
"""Generates the PyTorch-exported ONNX test models of tests/data/models/ and their reference outputs.

Run from anywhere with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14, python3-onnx 1.12,
python3-numpy):

    /usr/bin/python3 scripts/make_test_models.py [--out tests/data/models]

Writes (all float32, NCHW, .npy = numpy format 1.0, little-endian, C order):
  resnet20.onnx            akamaster's pretrained CIFAR-10 ResNet20 (option-A shortcut), BatchNorm folded
  resnet20_bn.onnx         the same, BatchNorm kept, PyTorch parameter names kept ("layer1.0.conv1.weight")
  resnet20_input.npy       [16, 3, 32, 32] smooth synthetic images, ImageNet mean/std normalised
  resnet20_logits.npy      [16, 10] PyTorch logits of resnet20 (eval, float32)
  densenet_small.onnx      torchvision DenseNet(growth 12, blocks (2,2,2), 16 init features, bn_size 2), BN kept
  densenet_small_input.npy / densenet_small_output.npy        [4, 3, 32, 32] / [4, 10]
  googlenet_small.onnx     stem + MaxPool(ceil) + 2 torchvision googlenet.Inception blocks + GAP + fc, BN kept
  googlenet_small_input.npy / googlenet_small_output.npy      [4, 3, 32, 32] / [4, 10]

It reads tests/data/models/akamaster_resnet20-12fca82f.th (a byte copy of the pretrained checkpoint; see
tests/data/PROVENANCE.md). Everything is deterministic: fixed seeds, one torch thread, and the exports are
checked structurally with python3-onnx (ops, initializer names, attributes) before the script reports success.
Exit status 0 when every check passed.
"""

import argparse
import hashlib
import importlib
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

# torchvision.models.{densenet,googlenet} are shadowed by the builder functions of the same name.
tv_densenet = importlib.import_module("torchvision.models.densenet")
tv_googlenet = importlib.import_module("torchvision.models.googlenet")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "models")
CHECKPOINT = "akamaster_resnet20-12fca82f.th"
OPSET = 13
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # akamaster trainer.py normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET_IMAGES = 16
SMALL_IMAGES = 4
# An image whose top-2 logits are closer than this fraction of max|logit| is skipped: its argmax would be
# decided by float rounding, so it cannot be compared across engines.
MIN_TOP2_MARGIN = 0.02
MAX_MODEL_BYTES = 2 * 1024 * 1024


# ----------------------------------------------------------------------------------------------- ResNet20
# akamaster/pytorch_resnet_cifar10 resnet.py, re-implemented with the same module names and the same forward
# (including `out += shortcut`, avg_pool2d over the whole map and out.view(out.size(0), -1)), so the export
# is what that repository's users get.
class LambdaLayer(nn.Module):
    def __init__(self, lambd):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return self.lambd(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, option="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option != "A":
                raise ValueError("only option A is used by the pretrained checkpoint")
            self.shortcut = LambdaLayer(
                lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(block, 16, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 32, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 64, num_blocks[2], stride=2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        # akamaster passes out.size()[3]; torch 1.13's tracer makes that a Tensor, which avg_pool2d refuses,
        # so it is taken as an int (the traced graph is the same: a constant 8x8 AveragePool).
        out = F.avg_pool2d(out, int(out.size()[3]))
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def pretrained_resnet20(checkpoint_path):
    # The checkpoint is a legacy (pre-1.6) pickle of plain tensors; it predates num_batches_tracked.
    ckpt = torch.load(checkpoint_path, map_location="cpu")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in ckpt["state_dict"].items()}
    model = ResNet(BasicBlock, [3, 3, 3])
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"{checkpoint_path}: missing {missing}, unexpected {unexpected}")
    return model.eval(), float(ckpt["best_prec1"]), len(state)


# ------------------------------------------------------------------------------------- torchvision models
def small_densenet():
    return tv_densenet.DenseNet(growth_rate=12, block_config=(2, 2, 2), num_init_features=16, bn_size=2,
                                num_classes=10)


class SmallGoogLeNet(nn.Module):
    """GoogLeNet's structure in miniature, from torchvision's own BasicConv2d and Inception modules."""

    def __init__(self, num_classes=10):
        super().__init__()
        conv = tv_googlenet.BasicConv2d
        self.conv1 = conv(3, 16, kernel_size=3, stride=1, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 32 -> 16 (15 without ceil_mode)
        self.inception3a = tv_googlenet.Inception(16, 8, 8, 12, 4, 6, 6)  # -> 32 channels
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 16 -> 8 (7 without ceil_mode)
        self.inception4a = tv_googlenet.Inception(32, 12, 8, 16, 4, 8, 8)  # -> 44 channels
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(44, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool3(self.inception3a(x))
        x = self.inception4a(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def randomize_and_calibrate(model, classifier, seed):
    """Seeded random weights, BN affine != identity, BN running stats from a random batch (train mode, cumulative
    average, as the peer's model.py does), and the classifier standardised so that top-1 is spread over classes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.01)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
                mod.reset_running_stats()
                mod.momentum = None
        model.train()
        for _ in range(4):
            model(torch.randn(32, 3, 32, 32, generator=g))
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.momentum = 0.1
        model.eval()
        feats = []
        hook = classifier.register_forward_hook(lambda mod, inp, out: feats.append(inp[0]))
        model(torch.randn(128, 3, 32, 32, generator=g))
        hook.remove()
        mu, sd = feats[0].mean(0), feats[0].std(0) + 1e-5
        w = classifier.weight / sd
        classifier.weight.copy_(w)
        classifier.bias.copy_(-(w @ mu))
    return model.eval()


# ------------------------------------------------------------------------------------------------- inputs
def smooth_images(n, seed, size=32):
    """n deterministic 'natural-looking' RGB images in [0, 1]: bilinearly upsampled coarse noise at three
    scales (4x4, 8x8, 16x16 cells) plus a per-image colour cast, then ImageNet-normalised."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(n, 3, size, size)
    for cells, weight in ((4, 0.6), (8, 0.3), (16, 0.15)):
        coarse = torch.rand(n, 3, cells, cells, generator=g)
        img += weight * F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    img += 0.3 * torch.rand(n, 3, 1, 1, generator=g)
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    img = (img - lo) / (hi - lo)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((img - mean) / std).contiguous()


def well_separated(model, n, seed, max_candidates=512):
    """The first n candidate images whose top-2 logit margin is at least MIN_TOP2_MARGIN * max|logit|."""
    x = smooth_images(max_candidates, seed)
    with torch.no_grad():
        y = model(x)
    top2 = y.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]) / y.abs().amax(dim=1)
    keep = torch.nonzero(margin >= MIN_TOP2_MARGIN).flatten()[:n]
    if keep.numel() < n:
        raise RuntimeError(f"only {keep.numel()} of {max_candidates} candidate images are well separated")
    x = x[keep].contiguous()
    with torch.no_grad():
        y = model(x)
    return x, y, float(margin[keep].min())


# ------------------------------------------------------------------------------------------------- export
def export(model, path, keep_bn):
    model.eval()
    kwargs = dict(do_constant_folding=True)  # default training mode EVAL folds BatchNorm into Conv
    if keep_bn:
        kwargs = dict(do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, opset_version=OPSET, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, **kwargs)


def save_npy(path, tensor):
    np.save(path, np.ascontiguousarray(tensor.detach().numpy().astype(np.float32)), allow_pickle=False)


# ----------------------------------------------------------------------------------------- structure checks
class Checks:
    def __init__(self):
        self.failed = []

    def expect(self, cond, what):
        if not cond:
            self.failed.append(what)
            print(f"  CHECK FAILED: {what}")


def op_counts(model):
    counts = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def check_common(checks, path, model):
    onnx.checker.check_model(model)
    name = os.path.basename(path)
    checks.expect(any(o.domain in ("", "ai.onnx") and o.version == OPSET for o in model.opset_import),
                  f"{name}: opset {OPSET}")
    checks.expect([i.name for i in model.graph.input] == ["input"], f"{name}: single graph input 'input'")
    checks.expect([o.name for o in model.graph.output] == ["logits"], f"{name}: single graph output 'logits'")
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    checks.expect(dim0.dim_param == "N", f"{name}: dynamic batch axis on the input")
    checks.expect(os.path.getsize(path) < MAX_MODEL_BYTES, f"{name}: smaller than {MAX_MODEL_BYTES} bytes")


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def check_resnet20(checks, path, keep_bn):
    model = onnx.load(path)
    check_common(checks, path, model)
    name = os.path.basename(path)
    ops = op_counts(model)
    inits = {t.name for t in model.graph.initializer}
    checks.expect(ops.get("Conv", 0) == 19, f"{name}: 19 Conv nodes (got {ops.get('Conv', 0)})")
    checks.expect(ops.get("Gemm", 0) + ops.get("MatMul", 0) == 1, f"{name}: one Gemm/MatMul")
    checks.expect(ops.get("Add", 0) >= 9, f"{name}: 9 residual Add nodes")
    # option-A shortcut at layer2.0 and layer3.0: x[:, :, ::2, ::2] -> Slice, channel zero-padding -> Pad
    checks.expect(ops.get("Slice", 0) >= 2, f"{name}: Slice of the option-A shortcut")
    # (torch 1.13 also puts an all-zero Pad before the final AveragePool)
    producer = {out: node for node in model.graph.node for out in node.output}
    shortcut_pads = [n for n in model.graph.node if n.op_type == "Pad" and "shortcut" in n.name
                     and producer.get(n.input[0]) is not None and producer[n.input[0]].op_type == "Slice"]
    checks.expect(len(shortcut_pads) == 2, f"{name}: Slice -> Pad at layer2.0 and layer3.0 shortcuts")
    for node in shortcut_pads:
        checks.expect(attr(node, "mode", b"constant") == b"constant", f"{name}: {node.name} constant mode")
    if keep_bn:
        checks.expect(ops.get("BatchNormalization", 0) == 19, f"{name}: 19 BatchNormalization nodes kept")
        for p in ("conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.running_var", "layer1.0.conv1.weight",
                  "layer1.0.bn1.running_var", "layer2.0.conv1.weight", "layer3.2.conv2.weight", "linear.weight",
                  "linear.bias"):
            checks.expect(p in inits, f"{name}: initializer '{p}'")
    else:
        checks.expect(ops.get("BatchNormalization", 0) == 0, f"{name}: BatchNormalization folded into Conv")
    return ops


def check_small(checks, path, concat_inputs, expect_ceil_pools, param_names):
    model = onnx.load(path)
    check_common(checks, path, model)
    name = os.path.basename(path)
    ops = op_counts(model)
    inits = {t.name for t in model.graph.initializer}
    checks.expect(ops.get("BatchNormalization", 0) > 0, f"{name}: BatchNormalization kept")
    concats = [n for n in model.graph.node if n.op_type == "Concat"]
    checks.expect(any(len(n.input) == concat_inputs for n in concats),
                  f"{name}: a {concat_inputs}-input Concat of branches")
    ceil_pools = [n for n in model.graph.node if n.op_type == "MaxPool" and attr(n, "ceil_mode", 0) == 1]
    checks.expect(len(ceil_pools) >= expect_ceil_pools, f"{name}: >= {expect_ceil_pools} MaxPool ceil_mode=1")
    for p in param_names:
        checks.expect(p in inits, f"{name}: initializer '{p}'")
    return ops


# --------------------------------------------------------------------------------------------------- main
def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: tests/data/models)")
    ap.add_argument("--checkpoint", help=f"ResNet20 checkpoint (default: OUT/{CHECKPOINT})")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)  # reference outputs independent of the machine's thread count
    torch.manual_seed(0)
    os.makedirs(a.out, exist_ok=True)
    out = lambda name: os.path.join(a.out, name)  # noqa: E731
    checks = Checks()
    written = []
    notes = []

    # a. pretrained ResNet20, BN folded and BN kept
    resnet, best_prec1, n_tensors = pretrained_resnet20(a.checkpoint or out(CHECKPOINT))
    x, y, margin = well_separated(resnet, RESNET_IMAGES, seed=20)
    save_npy(out("resnet20_input.npy"), x)
    save_npy(out("resnet20_logits.npy"), y)
    export(resnet, out("resnet20.onnx"), keep_bn=False)
    export(resnet, out("resnet20_bn.onnx"), keep_bn=True)
    ops_f = check_resnet20(checks, out("resnet20.onnx"), keep_bn=False)
    ops_b = check_resnet20(checks, out("resnet20_bn.onnx"), keep_bn=True)
    written += ["resnet20.onnx", "resnet20_bn.onnx", "resnet20_input.npy", "resnet20_logits.npy"]
    notes.append(f"resnet20: checkpoint best_prec1={best_prec1:.2f}, {n_tensors} tensors; argmax "
                 f"{y.argmax(1).tolist()}; max|logit| {y.abs().max():.3f}; min top-2 margin {margin:.3f}")
    notes.append(f"resnet20.onnx ops {ops_f}")
    notes.append(f"resnet20_bn.onnx ops {ops_b}")

    # b. torchvision DenseNet (Concat per dense layer) and a small GoogLeNet (4-way Concat, MaxPool ceil_mode)
    smalls = (
        ("densenet_small", small_densenet, lambda m: m.classifier, 2, 2, 0,
         ("features.conv0.weight", "features.denseblock1.denselayer1.conv1.weight", "classifier.weight")),
        ("googlenet_small", SmallGoogLeNet, lambda m: m.fc, 3, 4, 2,
         ("conv1.conv.weight", "inception3a.branch2.1.conv.weight", "inception4a.branch4.1.bn.running_var",
          "fc.weight")),
    )
    for name, build, classifier, image_seed, concat_inputs, ceil_pools, params in smalls:
        torch.manual_seed(0)
        model = build()
        randomize_and_calibrate(model, classifier(model), seed=1)
        x, y, margin = well_separated(model, SMALL_IMAGES, seed=image_seed)
        save_npy(out(f"{name}_input.npy"), x)
        save_npy(out(f"{name}_output.npy"), y)
        export(model, out(f"{name}.onnx"), keep_bn=True)
        ops = check_small(checks, out(f"{name}.onnx"), concat_inputs, ceil_pools, params)
        written += [f"{name}.onnx", f"{name}_input.npy", f"{name}_output.npy"]
        notes.append(f"{name}: params {sum(p.numel() for p in model.parameters())}; argmax {y.argmax(1).tolist()}; "
                     f"max|out| {y.abs().max():.3f}; min top-2 margin {margin:.3f}; ops {ops}")

    # every .npy reads back as float32 C-order with the expected shape
    for name, shape in (("resnet20_input.npy", (16, 3, 32, 32)), ("resnet20_logits.npy", (16, 10)),
                        ("densenet_small_input.npy", (4, 3, 32, 32)), ("densenet_small_output.npy", (4, 10)),
                        ("googlenet_small_input.npy", (4, 3, 32, 32)), ("googlenet_small_output.npy", (4, 10))):
        arr = np.load(out(name))
        checks.expect(arr.dtype == np.float32 and arr.shape == shape and arr.flags.c_contiguous,
                      f"{name}: float32 {shape} C order")
        checks.expect(bool(np.isfinite(arr).all()), f"{name}: finite")

    print(f"{'file':28s} {'bytes':>9s}  sha256")
    for name in [CHECKPOINT] + written:
        print(f"{name:28s} {os.path.getsize(out(name)):9d}  {sha256(out(name))[:16]}")
    for n in notes:
        print(n)
    if checks.failed:
        print(f"{len(checks.failed)} structural check(s) FAILED")
        return 1
    print("all structural checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
