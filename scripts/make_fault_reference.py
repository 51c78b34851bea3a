#!/usr/bin/python3
"""PyTorch reference outputs for a fault list on the pretrained ResNet20 (tests/data/faults/).

    /usr/bin/python3 -W ignore scripts/make_fault_reference.py [--out tests/data/faults]

Writes
  resnet20_faults.csv          a faultline fault list (Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Batch)
  resnet20_faulty_logits.npy   [F, 4, 10] float32: PyTorch's logits for each fault, first 4 images of
                               tests/data/models/resnet20_input.npy
  resnet20_golden_logits.npy   [4, 10] float32: the same without a fault

The model is make_test_models.py's ResNet20 with the committed checkpoint (eval, float32, one thread): the
model that tests/data/models/resnet20_bn.onnx was exported from, so parameter names and faultline's canonical
layer names (`faultline layers tests/data/models/resnet20_bn.onnx --csv`) address the same tensors.

Weight faults change the bits of the float32 parameter / buffer in place through a numpy uint32 view of the
tensor's storage, run the model, and write the original bits back; after the last fault the state_dict must be
bit-identical to the one loaded.

Activation faults change one element (C, H, W of every image, or of the `Batch` image only) of the value a
node of resnet20_bn.onnx produces, before any consumer reads it. They run through `forward_with_faults`, a
re-implementation of the model's forward that calls the model's own modules in the same order and offers a
fault point at every ONNX value; each site also names the forward hook that is equivalent where a module
exists, and the script checks that hook path gives bit-identical logits (SITES below has the mapping).
Exit status 0 when every check passed.
"""

import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_models as mtm  # noqa: E402  (model definition and checkpoint loader)

REPO_ROOT = mtm.REPO_ROOT
MODELS = os.path.join(REPO_ROOT, "tests", "data", "models")
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "faults")
IMAGES = 4

# ------------------------------------------------------------------------------------------ activation sites
# faultline canonical layer name -> (ONNX value name in resnet20_bn.onnx, equivalent hook or None).
# A hook is ("post", module path): forward hook replacing that module's output, or ("pre", module path):
# forward pre-hook replacing that module's (only) input. None: no module produces exactly that value; the
# fault point in forward_with_faults is the only way (Add of a block, the shortcut's slices, AveragePool).


def block_sites(layer, idx, downsample):
    b = f"layer{layer}.{idx}"
    o = f"/layer{layer}/{b}"
    s = {
        f"{b}.conv1": (f"{o}/conv1/Conv_output_0", ("post", f"{b}.conv1")),
        f"{b}.bn1": (f"{o}/bn1/BatchNormalization_output_0", ("post", f"{b}.bn1")),
        b: (f"{o}/Relu_output_0", ("pre", f"{b}.conv2")),  # relu(bn1): conv2's only input
        f"{b}.conv2": (f"{o}/conv2/Conv_output_0", ("post", f"{b}.conv2")),
        f"{b}.bn2": (f"{o}/bn2/BatchNormalization_output_0", ("post", f"{b}.bn2")),
        f"{b}_1": (f"{o}/Add_output_0", None),  # bn2 + shortcut, before the block's last relu
        f"{b}_2": (f"{o}/Relu_1_output_0", ("post", b)),  # the BasicBlock module's output
    }
    if downsample:  # option A: x[:, :, ::2, ::2] -> Slice(axis 2), Slice(axis 3), then Pad of the channels
        s[f"{b}.shortcut"] = (f"{o}/shortcut/Slice_output_0", None)
        s[f"{b}.shortcut_1"] = (f"{o}/shortcut/Slice_1_output_0", None)
        s[f"{b}.shortcut_14"] = (f"{o}/shortcut/Pad_output_0", ("post", f"{b}.shortcut"))  # LambdaLayer output
    return s


SITES = {
    "conv1": ("/conv1/Conv_output_0", ("post", "conv1")),
    "bn1": ("/bn1/BatchNormalization_output_0", ("post", "bn1")),
    "/Relu": ("/Relu_output_0", ("pre", "layer1.0")),  # stem relu: layer1.0's input (conv1 and the shortcut)
}
for _l in (1, 2, 3):
    for _i in range(3):
        SITES.update(block_sites(_l, _i, downsample=(_l > 1 and _i == 0)))
SITES.update({
    "/Pad": ("/Pad_output_0", ("post", "layer3")),  # torch 1.13's all-zero Pad before AveragePool = layer3 output
    "/AveragePool": ("/AveragePool_output_0", None),  # [64, 1, 1]; same memory as Reshape's [64]
    "/Reshape": ("/Reshape_output_0", ("pre", "linear")),  # out.view(N, -1): linear's input
    "linear": ("logits", ("post", "linear")),
})


def forward_with_faults(model, x, point):
    """akamaster's ResNet.forward / BasicBlock.forward, op for op, with point(site, tensor) -> tensor after every
    value resnet20_bn.onnx names. `out += shortcut` is written out of place (same float result)."""
    out = point("conv1", model.conv1(x))
    out = point("bn1", model.bn1(out))
    out = point("/Relu", F.relu(out))
    for li in (1, 2, 3):
        for bi, blk in enumerate(getattr(model, f"layer{li}")):
            b = f"layer{li}.{bi}"
            x_in = out
            o = point(f"{b}.conv1", blk.conv1(x_in))
            o = point(f"{b}.bn1", blk.bn1(o))
            o = point(b, F.relu(o))
            o = point(f"{b}.conv2", blk.conv2(o))
            o = point(f"{b}.bn2", blk.bn2(o))
            if isinstance(blk.shortcut, mtm.LambdaLayer):
                planes = blk.conv2.out_channels
                sc = point(f"{b}.shortcut", x_in[:, :, ::2, :])
                sc = point(f"{b}.shortcut_1", sc[:, :, :, ::2])
                sc = point(f"{b}.shortcut_14", F.pad(sc, (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))
            else:
                sc = x_in
            o = point(f"{b}_1", o + sc)
            out = point(f"{b}_2", F.relu(o))
    out = point("/Pad", out)
    out = point("/AveragePool", F.avg_pool2d(out, int(out.size()[3])))
    out = point("/Reshape", out.view(out.size(0), -1))
    return point("linear", model.linear(out))


# --------------------------------------------------------------------------------------------- fault models
def fault_word(bits, f):
    """bits: numpy uint32 array (view); applies fault f to every element in place."""
    model = f["model"]
    if model == "bitflip":
        bits ^= np.uint32(1 << f["bit"])
    elif model == "multibit":
        bits ^= np.uint32(f["mask"])
    elif model == "stuck-at-0":
        bits &= np.uint32(~(1 << f["bit"]) & 0xFFFFFFFF)
    elif model == "stuck-at-1":
        bits |= np.uint32(1 << f["bit"])
    elif model == "zero":
        bits[...] = np.uint32(0)
    elif model == "value":
        bits[...] = np.float32(f["value"]).view(np.uint32)
    else:
        raise ValueError(model)


def W(layer, index, bit=None, model="bitflip", mask=None, value=None, note=""):
    return dict(target="weight", layer=layer, index=tuple(index), bit=bit, model=model, mask=mask, value=value,
                batch=None, note=note)


def A(layer, index, bit=None, model="bitflip", mask=None, value=None, batch=None, note=""):
    return dict(target="activation", layer=layer, index=tuple(index), bit=bit, model=model, mask=mask, value=value,
                batch=batch, note=note)


FAULTS = [
    # --- conv weight bit flips, bits 0 / 15 / 22 / 23 / 29 / 30 / 31
    W("conv1", (3, 0, 2, 1), 0, note="mantissa LSB: masked"),
    W("layer1.0.conv1", (5, 3, 1, 1), 15),
    W("layer1.2.conv2", (7, 12, 0, 2), 22, note="top mantissa bit"),
    W("layer2.0.conv1", (11, 4, 2, 0), 23, note="exponent LSB: x2 or /2"),
    W("layer3.1.conv2", (40, 17, 1, 1), 23),
    W("layer2.1.conv2", (9, 30, 1, 0), 29),
    W("conv1", (0, 1, 1, 1), 30, note="|w|<2 -> |w|*2^128"),
    W("layer1.1.conv1", (2, 9, 1, 2), 30),
    W("layer3.0.conv2", (21, 5, 2, 2), 30),
    W("layer3.2.conv1", (63, 63, 0, 0), 30),
    W("layer1.1.conv1", (14, 6, 0, 1), 31, note="sign"),
    W("layer2.2.conv1", (31, 15, 2, 1), 31),
    # --- linear weight and bias
    W("linear", (3, 17), 30, note="Layer without .weight"),
    W("linear.weight", (7, 40), 31),
    W("linear.bias", (2,), 29),
    W("linear.bias", (5,), 22),
    # --- BatchNorm parameters and statistics (parameter names)
    W("bn1.bias", (3,), 27),
    W("layer1.0.bn1.running_var", (4,), 31, note="negative variance: sqrt -> NaN"),
    W("layer1.2.bn2.running_var", (6,), 30),
    W("layer2.1.bn2.running_mean", (10,), 29),
    W("layer2.0.bn2.bias", (1,), 23),
    W("layer3.0.bn1.weight", (12,), 30),
    W("layer3.2.bn2.running_var", (8,), 31, note="negative variance: sqrt -> NaN"),
    W("layer3.2.bn1.running_mean", (20,), value=1e30, model="value"),
    # --- stuck-at
    W("layer1.1.conv2", (4, 4, 1, 1), 30, model="stuck-at-1"),
    W("layer3.1.conv1", (10, 20, 1, 1), 29, model="stuck-at-0"),
    W("linear.weight", (0, 5), 24, model="stuck-at-1"),
    W("layer2.0.bn1.running_var", (3,), 30, model="stuck-at-0", note="var 6.58 > 2: bit 30 set -> var*2^-128"),
    W("layer1.1.bn1.weight", (0,), 31, model="stuck-at-0", note="positive: sign already 0, masked"),
    W("layer2.2.bn1.weight", (7,), 31, model="stuck-at-1"),
    # --- multibit, zero, value
    W("layer2.2.conv2", (13, 2, 1, 1), model="multibit", mask=0x00700000),
    W("linear.weight", (9, 63), model="multibit", mask=0x80000001),
    W("layer1.0.bn2.weight", (2,), model="multibit", mask=0x03000000),
    W("layer3.0.conv1", (5, 5, 1, 1), model="zero"),
    W("layer1.0.bn1.running_var", (9,), model="zero", note="var 0: 1/sqrt(eps)"),
    W("linear.bias", (1,), model="zero"),
    W("layer2.0.conv2", (0, 0, 1, 1), model="value", value=10.5),
    W("linear.weight", (4, 33), model="value", value=-3.25),
    # --- activations, every image: one element of a node's output
    A("conv1", (3, 10, 12), 30),
    A("bn1", (5, 0, 0), 31),
    A("/Relu", (2, 16, 16), 27, note="stem relu: conv1 and identity shortcut of layer1.0 both read it"),
    A("layer1.0.conv1", (0, 5, 7), 23),
    A("layer1.0.bn1", (7, 31, 31), 30),
    A("layer1.0", (9, 4, 4), 30, note="block's first relu"),
    A("layer1.1_1", (3, 3, 3), 30, note="Add output, before the block's last relu"),
    A("layer1.2_2", (1, 2, 3), 29, note="block output"),
    A("layer2.0.shortcut", (4, 5, 6), 30, note="shortcut Slice (axis 2)"),
    A("layer2.0.shortcut_1", (3, 7, 9), 26, note="shortcut Slice (axis 3)"),
    A("layer2.0.shortcut_14", (2, 8, 8), 30, note="shortcut Pad, zero-padded channel"),
    A("layer2.0.shortcut_14", (20, 3, 4), 31, note="shortcut Pad, copied channel"),
    A("layer2.0.conv2", (20, 1, 1), 23),
    A("layer2.1.bn2", (5, 5, 5), 31),
    A("layer2.2_1", (30, 15, 0), 30),
    A("layer3.0.shortcut_14", (60, 4, 4), 30),
    A("layer3.0_2", (10, 7, 7), 30),
    A("layer3.1", (33, 2, 2), 22),
    A("layer3.2.conv2", (40, 3, 3), 30),
    A("layer3.2_2", (12, 4, 4), 28),
    A("/Pad", (6, 1, 1), 29),
    A("/AveragePool", (7, 0, 0), 30),
    A("/Reshape", (11,), 31),
    A("linear", (4,), 30, note="logit"),
    A("logits", (8,), 31, note="ONNX value name of the logits"),
    A("layer2.1", (17, 8, 8), 30, model="stuck-at-1"),
    A("layer3.1.bn1", (2, 2, 2), model="zero"),
    A("layer1.2.conv1", (8, 20, 20), model="value", value=100.0),
    A("layer2.2.bn1", (6, 6, 6), model="multibit", mask=0x7F800000),
    # --- activations, one image only (Batch column)
    A("layer1.0.conv2", (2, 10, 10), 30, batch=1),
    A("linear", (3,), 31, batch=2),
    A("layer2.0_2", (7, 3, 3), 30, batch=0),
    A("layer3.0.bn2", (9, 1, 6), 30, model="stuck-at-1", batch=3),
]

ALIASES = {"logits": "linear"}  # ONNX value names used in the list -> canonical site


def module_at(model, path):
    m = model
    for part in path.split("."):
        m = getattr(m, part)
    return m


def fault_activation(t, f):
    """A copy of t (N, ...) with f applied at f['index'] of every image (or of image f['batch'])."""
    t = t.clone().contiguous()
    bits = t.numpy().view(np.uint32)
    images = range(t.shape[0]) if f["batch"] is None else [f["batch"]]
    for n in images:
        idx = (n,) + f["index"]
        cell = bits[idx].reshape(1).copy()
        fault_word(cell, f)
        bits[idx] = cell[0]
    return t


def run_weight_fault(model, x, f, tensors):
    name = f["layer"] if f["layer"] in tensors else f["layer"] + ".weight"
    t = tensors[name]
    bits = t.numpy().view(np.uint32)
    original = bits[f["index"]].copy()
    cell = bits[f["index"]].reshape(1).copy()
    fault_word(cell, f)
    bits[f["index"]] = cell[0]
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        bits[f["index"]] = original
    return y


def run_activation_fault(model, x, f):
    site = ALIASES.get(f["layer"], f["layer"])

    def point(name, t):
        return fault_activation(t, f) if name == site else t

    with torch.no_grad():
        y = forward_with_faults(model, x, point)
        seen = {}  # the fault-free value at the site (for the summary and the 2^k check)

        def record(name, t):
            if name == site:
                seen[name] = t
            return t

        forward_with_faults(model, x, record)
    hook_y = None
    hook = SITES[site][1]
    if hook is not None:
        kind, path = hook
        mod = module_at(model, path)
        if kind == "post":
            h = mod.register_forward_hook(lambda m, inp, out: fault_activation(out, f))
        else:
            h = mod.register_forward_pre_hook(lambda m, inp: (fault_activation(inp[0], f),))
        try:
            with torch.no_grad():
                hook_y = model(x)
        finally:
            h.remove()
    return y, hook_y, seen[site]


def csv_row(i, f):
    idx = "(" + ", ".join(str(v) for v in f["index"]) + ("," if len(f["index"]) == 1 else "") + ")"
    value = "" if f["value"] is None else repr(float(f["value"]))
    return ",".join([str(i), f["layer"], f'"{idx}"', "" if f["bit"] is None else str(f["bit"]), f["target"],
                     f["model"], "" if f["mask"] is None else f"0x{f['mask']:08x}", value,
                     "" if f["batch"] is None else str(f["batch"])])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    failed = []

    def expect(cond, what):
        if not cond:
            failed.append(what)
            print(f"  CHECK FAILED: {what}")

    model, _, _ = mtm.pretrained_resnet20(os.path.join(MODELS, mtm.CHECKPOINT))
    model = model.float().eval()
    x = torch.from_numpy(np.load(os.path.join(MODELS, "resnet20_input.npy"))[:IMAGES].copy())
    tensors = model.state_dict(keep_vars=False)  # detached, sharing storage with the model
    before = {k: v.clone() for k, v in tensors.items()}

    with torch.no_grad():
        golden = model(x)
        golden_re = forward_with_faults(model, x, lambda name, t: t)
    expect(torch.equal(golden, golden_re), "forward_with_faults reproduces model(x) bit for bit")
    committed = np.load(os.path.join(MODELS, "resnet20_logits.npy"))[:IMAGES]
    expect(np.array_equal(golden.numpy(), committed), "golden logits equal models/resnet20_logits.npy[:4]")

    # the sites exist in the ONNX file under those value names, with the shapes the torch forward gives
    onnx_values = {o for n in onnx.load(os.path.join(MODELS, "resnet20_bn.onnx")).graph.node for o in n.output}
    shapes = {}

    def record_shape(name, t):
        shapes[name] = tuple(t.shape[1:])  # per image, as faultline lists activations
        return t

    with torch.no_grad():
        forward_with_faults(model, x, record_shape)
    for site, (value, _) in SITES.items():
        expect(value in onnx_values, f"site {site}: ONNX value {value} in resnet20_bn.onnx")
        expect(site in shapes, f"site {site}: a fault point in forward_with_faults")

    logits = []
    rows = []
    notes = []
    for i, f in enumerate(FAULTS):
        if f["target"] == "weight":
            name = f["layer"] if f["layer"] in tensors else f["layer"] + ".weight"
            expect(name in tensors, f"fault {i}: parameter {name}")
            orig = float(tensors[name][f["index"]])
            y = run_weight_fault(model, x, f, tensors)
            where = f"{name}{list(f['index'])}={orig:.6g}"
        else:
            site = ALIASES.get(f["layer"], f["layer"])
            expect(site in SITES, f"fault {i}: activation site {f['layer']}")
            expect(len(f["index"]) == len(shapes[site]) and all(0 <= v < s for v, s in zip(f["index"], shapes[site])),
                   f"fault {i}: index {f['index']} inside {shapes[site]}")
            y, hook_y, seen = run_activation_fault(model, x, f)
            if hook_y is not None:
                expect(torch.equal(y.nan_to_num(1e38), hook_y.nan_to_num(1e38)) and
                       torch.equal(y.isnan(), hook_y.isnan()),
                       f"fault {i}: forward hook {SITES[site][1]} gives the same logits")
            vals = [float(seen[(n,) + f["index"]]) for n in range(IMAGES)]
            where = f"{site}{list(f['index'])}=" + "/".join(f"{v:.4g}" for v in vals)
            # an exponent-bit flip of a value near a power of two could go either way across engines
            if f["model"] in ("bitflip", "stuck-at-0", "stuck-at-1", "multibit"):
                for v in vals:
                    if v != 0.0:
                        frac = abs(np.log2(abs(v)) - round(np.log2(abs(v))))
                        expect(frac > 1e-5, f"fault {i}: activation value {v} is not within rounding of 2^k")
        yn = y.numpy().astype(np.float32)
        logits.append(yn)
        fin = np.isfinite(yn).all(axis=1)
        changed = [n for n in range(IMAGES) if not fin[n] or yn[n].argmax() != golden[n].argmax()]
        # top-1 of a finite row must not be decided by rounding: the two best logits differ by > 0.1 % of them
        for n in range(IMAGES):
            if fin[n]:
                top2 = np.sort(yn[n])[-2:].astype(np.float64)
                margin = (top2[1] - top2[0]) / max(abs(top2[0]), abs(top2[1]), 1.0)
                expect(margin > 1e-3, f"fault {i} image {n}: top-2 margin {margin:.2e} decides top-1 by rounding")
        rows.append(csv_row(i, f))
        notes.append((i, f, where, int((~np.isfinite(yn)).any(axis=1).sum()), changed, float(np.abs(yn[np.isfinite(yn)]).max(initial=0))))

    after = model.state_dict()
    expect(before.keys() == after.keys() and all(
        torch.equal(before[k].view(-1).view(torch.int32) if before[k].dtype == torch.float32 else before[k],
                    after[k].view(-1).view(torch.int32) if after[k].dtype == torch.float32 else after[k])
        for k in before), "state_dict bit-identical after all faults (restore)")

    os.makedirs(a.out, exist_ok=True)
    header = "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Batch"
    with open(os.path.join(a.out, "resnet20_faults.csv"), "w", newline="\n") as fh:
        fh.write("\n".join([header] + rows) + "\n")
    faulty = np.ascontiguousarray(np.stack(logits).astype(np.float32))
    np.save(os.path.join(a.out, "resnet20_faulty_logits.npy"), faulty, allow_pickle=False)
    np.save(os.path.join(a.out, "resnet20_golden_logits.npy"),
            np.ascontiguousarray(golden.numpy().astype(np.float32)), allow_pickle=False)

    print(f"{'#':>3s} {'target':10s} {'model':10s} {'bit/mask/value':>14s}  {'non-fin':>7s} {'top1 chg':8s} "
          f"{'max|finite|':>11s}  site=original value(s)")
    for i, f, where, nonfin, changed, mx in notes:
        bmv = (str(f["bit"]) if f["bit"] is not None else f"0x{f['mask']:x}" if f["mask"] is not None
               else f"{f['value']:g}" if f["value"] is not None else "")
        print(f"{i:3d} {f['target']:10s} {f['model']:10s} {bmv:>14s}  {nonfin:7d} {str(changed):8s} {mx:11.4g}  "
              f"{where}{'  batch ' + str(f['batch']) if f['batch'] is not None else ''}")
    n_changed = sum(1 for n in notes if n[4])
    n_nonfin = sum(1 for n in notes if n[3])
    print(f"{len(FAULTS)} faults ({sum(f['target'] == 'weight' for f in FAULTS)} weight, "
          f"{sum(f['target'] == 'activation' for f in FAULTS)} activation); {n_changed} change top-1 of some image "
          f"(or make it non-finite); {n_nonfin} give non-finite logits; golden argmax {golden.argmax(1).tolist()}")
    print(f"files: {faulty.shape} logits, csv {os.path.getsize(os.path.join(a.out, 'resnet20_faults.csv'))} bytes")
    if failed:
        print(f"{len(failed)} check(s) FAILED")
        return 1
    print("all checks passed (restore verified, hook paths agree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
