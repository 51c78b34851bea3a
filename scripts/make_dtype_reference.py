#!/usr/bin/python3
"""PyTorch reference outputs for ResNet20 with its weights stored as float16, bfloat16 or int8 (tests/data/faults/).

    /usr/bin/python3 -W ignore scripts/make_dtype_reference.py [--out tests/data/faults]

Writes, for each DTYPE in float16, bfloat16, int8:
  resnet20_DTYPE_faults.csv         a faultline fault list (Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Batch)
  resnet20_DTYPE_logits.npy         [F, 4, 10] float32: logits with each fault applied alone
  resnet20_DTYPE_clean_logits.npy   [4, 10] float32: logits without a fault

The model is make_test_models.py's ResNet20 with the committed checkpoint (eval, one thread), the model
tests/data/models/resnet20_bn.onnx was exported from, on the first 4 images of models/resnet20_input.npy. Its
weights are stored as `faultline --weights DTYPE` stores them (engine/weight_storage.h), written here
independently in numpy:
  float16   every conv / linear weight and bias and every BatchNorm weight, bias, running_mean, running_var:
            numpy's float32 -> float16 conversion (round to nearest even)
  bfloat16  the same tensors: round to nearest even on the float32 bits (bits + 0x7FFF + lsb) >> 16
            (checked against torch's .to(torch.bfloat16))
  int8      conv and linear weights only (biases, BatchNorm stay float32): scale = float32(max|w|) / 127,
            q = clip(rint(w / scale), -127, 127); the model computes with q * scale (float32)
and every stored tensor is decoded to float32 before the float32 forward, so the clean logits are the float32
model's on the decoded weights.

Weight faults change one bit of the STORED word (a uint16 view of the half / bfloat16 word, a uint8 view of
the int8 word: bit 0 is the least significant, the highest bit the sign), decode the tensor again, run, and
restore. Activation faults are make_fault_reference.py's (activations stay float32; that script's
forward_with_faults and fault_activation are reused), on the stored-weight model.
Exit status 0 when every check passed.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fault_reference as mfr  # noqa: E402  (activation fault points, CSV rows)
import make_test_models as mtm  # noqa: E402  (model definition and checkpoint loader)

MODELS = mfr.MODELS
DEFAULT_OUT = mfr.DEFAULT_OUT
IMAGES = mfr.IMAGES
DTYPES = ("float16", "bfloat16", "int8")
W, A = mfr.W, mfr.A

# Weight faults per dtype: bit 0, an exponent / middle bit, the top exponent bit (float) and the sign.
FAULTS = {
    "float16": [
        W("conv1", (3, 0, 2, 1), 0, note="mantissa LSB"),
        W("layer1.0.conv1", (5, 3, 1, 1), 10, note="exponent LSB"),
        W("layer2.1.conv2", (9, 30, 1, 0), 14, note="top exponent bit: |w| * 2^16"),
        W("layer3.0.conv2", (21, 5, 2, 2), 14),
        W("layer1.1.conv1", (14, 6, 0, 1), 15, note="sign"),
        W("linear.weight", (7, 40), 15),
        W("linear.bias", (2,), 13),
        W("layer1.0.bn1.running_var", (4,), 15, note="negative variance: NaN"),
        W("layer3.0.bn1.weight", (12,), 14),
        W("layer2.2.conv2", (13, 2, 1, 1), model="multibit", mask=0x7C00),
    ],
    "bfloat16": [
        W("conv1", (3, 0, 2, 1), 0, note="mantissa LSB"),
        W("layer1.0.conv1", (5, 3, 1, 1), 7, note="exponent LSB"),
        W("layer2.1.conv2", (9, 30, 1, 0), 14, note="top exponent bit: |w| * 2^128"),
        W("layer1.1.conv1", (14, 6, 0, 1), 15, note="sign"),
        W("linear.weight", (7, 40), 15),
        W("linear.bias", (5,), 12),
        W("layer1.2.bn2.running_var", (6,), 13),
        W("layer2.0.bn2.bias", (1,), 15),
        W("layer3.1.conv1", (10, 20, 1, 1), 13, model="stuck-at-1"),
    ],
    "int8": [
        W("conv1", (3, 0, 2, 1), 0, note="LSB: +-1 step"),
        W("layer1.0.conv1", (5, 3, 1, 1), 6, note="+-64 steps"),
        W("layer2.1.conv2", (9, 30, 1, 0), 7, note="sign (two's complement: -128)"),
        W("layer3.0.conv2", (21, 5, 2, 2), 7),
        W("layer1.1.conv1", (14, 6, 0, 1), 5),
        W("linear", (7, 40), 7, note="Layer without .weight"),
        W("linear.weight", (3, 17), 6),
        W("layer3.2.conv1", (63, 63, 0, 0), 4, model="stuck-at-1"),
        W("layer2.2.conv2", (13, 2, 1, 1), model="multibit", mask=0x81),
    ],
}
ACTIVATIONS = [  # float32 activations of the stored-weight model
    A("layer1.0.conv1", (0, 5, 7), 30),
    A("layer2.0.shortcut_14", (20, 3, 4), 31),
    A("layer3.1", (33, 2, 2), 22),
    A("linear", (3,), 31, batch=2),
]


def is_stored(name, dtype):
    if dtype == "int8":  # conv / linear weights (4-D conv kernels and the 2-D linear weight)
        return name.endswith(".weight") and ("conv" in name or name == "linear.weight")
    return name.endswith((".weight", ".bias", ".running_mean", ".running_var"))


def bf16_words(w):
    bits = w.view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def encode(w, dtype):
    """float32 array -> (stored words as an unsigned integer array, int8 scale or None)."""
    if dtype == "float16":
        return w.astype(np.float16).view(np.uint16), None
    if dtype == "bfloat16":
        return bf16_words(w), None
    scale = np.float32(np.abs(w).max()) / np.float32(127)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q.view(np.uint8), scale


def decode(words, dtype, scale):
    if dtype == "float16":
        return words.view(np.float16).astype(np.float32)
    if dtype == "bfloat16":
        return (words.astype(np.uint32) << 16).view(np.float32)
    return words.view(np.int8).astype(np.float32) * scale


def fault_word(words, f, width):
    """Applies fault f to every element of an unsigned `width`-bit array in place."""
    t = words.dtype.type
    if f["model"] == "bitflip":
        words ^= t(1 << f["bit"])
    elif f["model"] == "multibit":
        words ^= t(f["mask"])
    elif f["model"] == "stuck-at-0":
        words &= t(~(1 << f["bit"]) & ((1 << width) - 1))
    elif f["model"] == "stuck-at-1":
        words |= t(1 << f["bit"])
    else:
        raise ValueError(f["model"])


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

    x = torch.from_numpy(np.load(os.path.join(MODELS, "resnet20_input.npy"))[:IMAGES].copy())
    os.makedirs(a.out, exist_ok=True)
    for dtype in DTYPES:
        model, _, _ = mtm.pretrained_resnet20(os.path.join(MODELS, mtm.CHECKPOINT))
        model = model.float().eval()
        tensors = model.state_dict(keep_vars=False)  # shares storage with the model
        stored = {}  # name -> (words, scale)
        for name, t in tensors.items():
            if t.dtype != torch.float32 or not is_stored(name, dtype):
                continue
            w = t.numpy().copy()
            words, scale = encode(w, dtype)
            stored[name] = (words, scale)
            t.copy_(torch.from_numpy(decode(words, dtype, scale)))
            if dtype == "bfloat16":
                expect(np.array_equal(words, torch.from_numpy(w).to(torch.bfloat16).view(torch.int16).numpy()
                                      .view(np.uint16)), f"{name}: bfloat16 rounding agrees with torch")
        width = 8 if dtype == "int8" else 16
        with torch.no_grad():
            clean = model(x)

        logits, rows, notes = [], [], []
        faults = FAULTS[dtype] + ACTIVATIONS
        for i, f in enumerate(faults):
            if f["target"] == "weight":
                name = f["layer"] if f["layer"] in tensors else f["layer"] + ".weight"
                expect(name in stored, f"{dtype} fault {i}: {name} is stored as {dtype}")
                words, scale = stored[name]
                cell = words[f["index"]].reshape(1).copy()
                before = float(decode(cell.copy(), dtype, scale)[0])
                fault_word(cell, f, width)
                faulty = words.copy()
                faulty[f["index"]] = cell[0]
                t = tensors[name]
                original = t.clone()
                t.copy_(torch.from_numpy(decode(faulty, dtype, scale)))
                try:
                    with torch.no_grad():
                        y = model(x)
                finally:
                    t.copy_(original)
                after = float(decode(cell, dtype, scale)[0])
                where = f"{name}{list(f['index'])}: {before:.6g} -> {after:.6g}"
            else:
                y, _, seen = mfr.run_activation_fault(model, x, f)
                vals = [float(seen[(n,) + f["index"]]) for n in range(IMAGES)]
                where = f"{f['layer']}{list(f['index'])}=" + "/".join(f"{v:.4g}" for v in vals)
                for v in vals:  # an exponent-bit flip next to a power of two could round either way
                    if v != 0.0:
                        frac = abs(np.log2(abs(v)) - round(np.log2(abs(v))))
                        expect(frac > 1e-5, f"{dtype} fault {i}: activation {v} is not within rounding of 2^k")
            yn = y.numpy().astype(np.float32)
            logits.append(yn)
            for n in range(IMAGES):  # top-1 of a finite row must not be decided by rounding
                if np.isfinite(yn[n]).all():
                    top2 = np.sort(yn[n])[-2:].astype(np.float64)
                    margin = (top2[1] - top2[0]) / max(abs(top2[0]), abs(top2[1]), 1.0)
                    expect(margin > 1e-3, f"{dtype} fault {i} image {n}: top-2 margin {margin:.2e}")
            rows.append(mfr.csv_row(i, f))
            nonfin = int((~np.isfinite(yn)).any(axis=1).sum())
            changed = [n for n in range(IMAGES) if not np.isfinite(yn[n]).all() or yn[n].argmax() != clean[n].argmax()]
            notes.append(f"{i:3d} {f['target']:10s} {f['model']:10s} {str(f['bit'] if f['bit'] is not None else hex(f['mask'])):>6s} non-finite "
                         f"{nonfin} top1-changed {changed}  {where}")
        with torch.no_grad():  # every fault restored: the clean logits again, bit for bit
            expect(torch.equal(model(x), clean), f"{dtype}: weights restored after the faults")

        header = "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Batch"
        with open(os.path.join(a.out, f"resnet20_{dtype}_faults.csv"), "w", newline="\n") as fh:
            fh.write("\n".join([header] + rows) + "\n")
        np.save(os.path.join(a.out, f"resnet20_{dtype}_logits.npy"),
                np.ascontiguousarray(np.stack(logits).astype(np.float32)), allow_pickle=False)
        np.save(os.path.join(a.out, f"resnet20_{dtype}_clean_logits.npy"),
                np.ascontiguousarray(clean.numpy().astype(np.float32)), allow_pickle=False)
        print(f"--- {dtype}: {len(stored)} stored tensors; clean argmax {clean.argmax(1).tolist()}, max |clean - "
              f"float32| {float((clean - model_float32_logits(x)).abs().max()):.3g}")
        for line in notes:
            print(line)
    if failed:
        print(f"{len(failed)} check(s) FAILED")
        return 1
    print("all checks passed")
    return 0


def model_float32_logits(x):
    model, _, _ = mtm.pretrained_resnet20(os.path.join(MODELS, mtm.CHECKPOINT))
    with torch.no_grad():
        return model.float().eval()(x)


if __name__ == "__main__":
    sys.exit(main())
