#!/usr/bin/python3
"""A real int8 model in ONNX's QOperator form, and its expected outputs from a NumPy reading of the ONNX spec.

Run with Debian's interpreter (python3-torch 1.13, python3-onnx 1.12, python3-h5py, python3-numpy):

    /usr/bin/python3 -W ignore scripts/make_int8_model.py        # writes tests/data/int8/*

1. Trains a small float CNN on the 8,000 training digits of examples/data/mnist_digits.h5 (indices 2000..9999;
   seeded, one torch thread; Adam, cosine learning rate, 6 epochs): conv1 (1->16, 3x3, stride 2, pad 1) + ReLU, conv2 (16->32, 3x3, stride 2, pad 1) + ReLU,
   flatten, fc (1568->10).
2. Quantizes it post-training into a QOperator graph written with onnx.helper (opset 13):
       input (float32 [N,1,28,28], pixel / 255)
       -> QuantizeLinear (int8, scale 1/255, zero point -128)
       -> QLinearConv conv1 (int8 weights, per-channel scales, int32 bias; uint8 out, zero point 0: ReLU by saturation)
       -> QLinearConv conv2 (uint8 in; int8 weights per channel, int32 bias; int8 out, zero point -128: ReLU)
       -> Flatten (int8)
       -> QLinearMatMul fc (int8 [N,1568] x int8 [1568,10] per-column scales; int8 out, asymmetric zero point)
       -> "logits_q" (graph output 1, int8)
       -> DequantizeLinear -> Add fc.bias (float32) -> "logits" (graph output 0, float32)
   Weights: symmetric per output channel, scale = max|w| / 127, q = clip(rint(w / scale), -127, 127), zero point 0.
   Biases: int32 rint(b / (x_scale * w_scale[m])). Activation scales from the float model's activations on 1,000
   training digits (ReLU outputs: max / 255; fc: (max - min) / 255 with an int8 zero point).
3. Computes the expected outputs for 32 held-out digits (indices 0..31) with the NumPy functions below, written
   from the ONNX operator documentation (QuantizeLinear, QLinearConv, QLinearMatMul, DequantizeLinear), not from
   faultline's C++: int32 accumulation of (x - x_zp)(w - w_zp), requantization
   saturate(rint(float32(acc) * float32(x_scale * w_scale / y_scale)) + y_zp), all float arithmetic in float32.
   The same functions must reproduce the ONNX project's own conformance outputs (libonnx-testdata
   test_quantizelinear*, test_qlinearconv, test_qlinearmatmul_*), checked here.

Writes tests/data/int8/{mnist_int8.onnx, mnist_int8_input.npy, mnist_int8_logits.npy, mnist_int8_logits_q.npy} and
prints sizes, sha256 prefixes, and the float and int8 accuracies on the 2,000 held-out digits. Exit status 0 only
when every check passed.
"""
import hashlib
import os
import sys

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_training  # noqa: E402  (the training loop shared with the other MNIST script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "data", "mnist_digits.h5")
OUT_DIR = os.path.join(ROOT, "tests", "data", "int8")
ONNX_TESTDATA = "/usr/share/libonnx-testdata/data/node"

HELD_OUT = 2000
TEST_IMAGES = 32
CALIBRATION_IMAGES = 1000
TRAIN_SEED = 8
EPOCHS = 6
BATCH = 64
LEARNING_RATE = 3e-3
MIN_ACCURACY = 0.95
WEIGHT_LIMIT = 127
OPSET = 13
CHANNELS = (16, 32)  # conv1, conv2 output channels


# --- the ONNX spec in NumPy ------------------------------------------------------------------------------------

def qrange(dtype):
    info = np.iinfo(dtype)
    return info.min, info.max


def saturate_round(real, zero_point, dtype):
    """saturate(rint(real) + zero_point): round half to even (np.rint), then add, then clip to dtype's range."""
    lo, hi = qrange(dtype)
    value = np.rint(real).astype(np.float64) + np.asarray(zero_point, np.float64)
    return np.clip(value, lo, hi).astype(dtype)


def quantize_linear(x, scale, zero_point, axis=1):
    """y = saturate(round(x / y_scale) + y_zero_point), x / y_scale in float32 (per tensor or along `axis`)."""
    x = np.asarray(x, np.float32)
    scale = np.asarray(scale, np.float32)
    zero_point = np.asarray(zero_point)
    if scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape)
    return saturate_round(x / scale, zero_point.astype(np.int64), zero_point.dtype)


def dequantize_linear(q, scale, zero_point):
    """y = (float32(q) - float32(zero_point)) * scale, float32 (per tensor)."""
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def wrap_int32(values):
    """int64 sums to int32 modulo 2^32 (the spec: the accumulation may overflow only in 32 bits)."""
    return ((np.asarray(values, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def conv_int32(x, w, strides, pads):
    """sum over (c, kh, kw) of x[n, c, ...] * w[m, c, kh, kw] on centred int32 data, zero padding (a centred pad
    value: the spec pads x with its zero point), group 1, 2-D."""
    n, c, h, width = x.shape
    m, _, kh, kw = w.shape
    padded = np.zeros((n, c, h + pads[0] + pads[2], width + pads[1] + pads[3]), np.int64)
    padded[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + width] = x
    out_h = (padded.shape[2] - kh) // strides[0] + 1
    out_w = (padded.shape[3] - kw) // strides[1] + 1
    acc = np.zeros((n, m, out_h, out_w), np.int64)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i:i + strides[0] * out_h:strides[0], j:j + strides[1] * out_w:strides[1]]
            acc += np.einsum("nchw,mc->nmhw", window, w[:, :, i, j].astype(np.int64))
    return wrap_int32(acc)


def requantize(acc, x_scale, w_scale, y_scale, y_zero_point, channel_axis):
    """saturate(rint(float32(acc) * (x_scale * w_scale / y_scale)) + y_zero_point), float32 throughout."""
    multiplier = (np.float32(x_scale) * np.asarray(w_scale, np.float32)) / np.float32(y_scale)
    if multiplier.size > 1:
        shape = [1] * acc.ndim
        shape[channel_axis] = multiplier.size
        multiplier = multiplier.reshape(shape)
    real = acc.astype(np.float32) * multiplier.astype(np.float32)
    assert real.dtype == np.float32
    return saturate_round(real, np.int64(y_zero_point), np.asarray(y_zero_point).dtype)


def qlinear_conv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias=None, strides=(1, 1), pads=(0, 0, 0, 0)):
    xc = x.astype(np.int32) - np.int32(x_zp)
    wc = w.astype(np.int32) - np.asarray(w_zp, np.int32).reshape(-1, 1, 1, 1)
    acc = conv_int32(xc, wc, strides, pads)
    if bias is not None:
        acc = wrap_int32(acc.astype(np.int64) + bias.astype(np.int64).reshape(1, -1, 1, 1))
    return requantize(acc, x_scale, w_scale, y_scale, y_zp, channel_axis=1)


def qlinear_matmul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp):
    ac = a.astype(np.int64) - np.int64(a_zp)
    bc = b.astype(np.int64) - np.asarray(b_zp, np.int64).reshape(1, -1)
    acc = wrap_int32(np.matmul(ac, bc))
    return requantize(acc, a_scale, b_scale, y_scale, y_zp, channel_axis=acc.ndim - 1)


# --- checks against the ONNX project's conformance data ------------------------------------------------------

class Checks:
    def __init__(self):
        self.failed = 0

    def expect(self, cond, what):
        print(f"  [{'ok' if cond else 'FAIL'}] {what}")
        if not cond:
            self.failed += 1


def load_case(name):
    folder = os.path.join(ONNX_TESTDATA, name)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    def read(kind, count):
        tensors = []
        for i in range(count):
            proto = TensorProto()
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{i}.pb"), "rb") as f:
                proto.ParseFromString(f.read())
            tensors.append(numpy_helper.to_array(proto))
        return tensors
    return model, read("input", len(model.graph.input)), read("output", len(model.graph.output))[0]


def check_against_conformance(checks):
    if not os.path.isdir(ONNX_TESTDATA):
        checks.expect(False, f"{ONNX_TESTDATA} exists (Debian package libonnx-testdata)")
        return
    for name in ("test_quantizelinear", "test_quantizelinear_axis"):
        model, inputs, expected = load_case(name)
        axis = next((a.i for a in model.graph.node[0].attribute if a.name == "axis"), 1)
        got = quantize_linear(inputs[0], inputs[1], inputs[2], axis)
        checks.expect(got.dtype == expected.dtype and np.array_equal(got, expected), f"NumPy QuantizeLinear = {name}")
    _, inputs, expected = load_case("test_qlinearconv")
    got = qlinear_conv(*inputs)
    checks.expect(got.dtype == expected.dtype and np.array_equal(got, expected), "NumPy QLinearConv = test_qlinearconv")
    for name in ("test_qlinearmatmul_2D", "test_qlinearmatmul_3D"):
        _, inputs, expected = load_case(name)
        got = qlinear_matmul(*inputs)
        checks.expect(got.dtype == expected.dtype and np.array_equal(got, expected), f"NumPy QLinearMatMul = {name}")


# --- the float model, its training and its quantization --------------------------------------------------------

class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, CHANNELS[0], 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(CHANNELS[0], CHANNELS[1], 3, stride=2, padding=1)
        self.fc = nn.Linear(CHANNELS[1] * 7 * 7, 10)

    def activations(self, x):
        a1 = F.relu(self.conv1(x))
        a2 = F.relu(self.conv2(a1))
        return a1, a2, F.linear(torch.flatten(a2, 1), self.fc.weight)

    def forward(self, x):
        return self.activations(x)[2] + self.fc.bias


def read_digits():
    with h5py.File(DIGITS, "r") as f:
        images = f["images"][...].reshape(-1, 1, 28, 28)
        labels = f["labels"][...].astype(np.int64)
    return images, labels


def to_input(images_u8):
    """uint8 [N, 1, 28, 28] -> float32 k / 255 (float32 division, as the mnist demo's preprocess)."""
    return images_u8.astype(np.float32) / np.float32(255.0)


def per_channel_int8(w):
    """Symmetric per output channel (axis 0): scale = max|w| / 127 (1 for an all-zero channel), q = clip(rint)."""
    flat = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float32)
    scale = np.where(flat > 0, flat / np.float32(WEIGHT_LIMIT), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -WEIGHT_LIMIT, WEIGHT_LIMIT)
    return q.astype(np.int8), scale


def quantize(model, calibration):
    """The QOperator parameters: a dict name -> numpy array (the initializers)."""
    p = {}
    p["input_scale"] = np.float32(1.0 / 255.0)
    p["input_zero_point"] = np.int8(-128)
    with torch.no_grad():
        a1, a2, pre_bias = (t.numpy() for t in model.activations(torch.from_numpy(calibration)))
    conv1_w, conv1_s = per_channel_int8(model.conv1.weight.detach().numpy())
    conv2_w, conv2_s = per_channel_int8(model.conv2.weight.detach().numpy())
    fc_w, fc_s = per_channel_int8(model.fc.weight.detach().numpy())  # [10, 1568], one scale per output (column of B)
    p["conv1.weight"], p["conv1.weight_scale"], p["conv1.weight_zero_point"] = conv1_w, conv1_s, np.zeros(len(conv1_s), np.int8)
    p["conv1.output_scale"] = np.float32(a1.max() / 255.0)
    p["conv1.output_zero_point"] = np.uint8(0)
    p["conv1.bias"] = np.rint(model.conv1.bias.detach().numpy() / (p["input_scale"] * conv1_s)).astype(np.int32)
    p["conv2.weight"], p["conv2.weight_scale"], p["conv2.weight_zero_point"] = conv2_w, conv2_s, np.zeros(len(conv2_s), np.int8)
    p["conv2.output_scale"] = np.float32(a2.max() / 255.0)
    p["conv2.output_zero_point"] = np.int8(-128)
    p["conv2.bias"] = np.rint(model.conv2.bias.detach().numpy() /
                              (p["conv1.output_scale"] * conv2_s)).astype(np.int32)
    p["fc.weight"] = np.ascontiguousarray(fc_w.T)  # B [1568, 10]
    p["fc.weight_scale"], p["fc.weight_zero_point"] = fc_s, np.zeros(len(fc_s), np.int8)
    low, high = float(min(pre_bias.min(), 0.0)), float(max(pre_bias.max(), 0.0))
    p["fc.output_scale"] = np.float32((high - low) / 255.0)
    p["fc.output_zero_point"] = np.int8(np.clip(np.rint(-128 - low / p["fc.output_scale"]), -128, 127))
    p["fc.bias"] = model.fc.bias.detach().numpy().astype(np.float32)
    return p


def run_numpy(p, x):
    """The QOperator graph, op by op, with the spec functions above: (float32 logits, int8 logits_q)."""
    q0 = quantize_linear(x, p["input_scale"], p["input_zero_point"])
    q1 = qlinear_conv(q0, p["input_scale"], p["input_zero_point"], p["conv1.weight"], p["conv1.weight_scale"],
                      p["conv1.weight_zero_point"], p["conv1.output_scale"], p["conv1.output_zero_point"],
                      p["conv1.bias"], strides=(2, 2), pads=(1, 1, 1, 1))
    q2 = qlinear_conv(q1, p["conv1.output_scale"], p["conv1.output_zero_point"], p["conv2.weight"],
                      p["conv2.weight_scale"], p["conv2.weight_zero_point"], p["conv2.output_scale"],
                      p["conv2.output_zero_point"], p["conv2.bias"], strides=(2, 2), pads=(1, 1, 1, 1))
    flat = q2.reshape(q2.shape[0], -1)
    logits_q = qlinear_matmul(flat, p["conv2.output_scale"], p["conv2.output_zero_point"], p["fc.weight"],
                              p["fc.weight_scale"], p["fc.weight_zero_point"], p["fc.output_scale"],
                              p["fc.output_zero_point"])
    logits = dequantize_linear(logits_q, p["fc.output_scale"], p["fc.output_zero_point"]) + p["fc.bias"]
    assert logits.dtype == np.float32
    return logits, logits_q


def build_onnx(p):
    def init(name):
        value = np.asarray(p[name])
        return numpy_helper.from_array(value, name)
    conv = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "input_scale", "input_zero_point"], ["/quant/QuantizeLinear_output_0"],
                         name="/quant/QuantizeLinear"),
        helper.make_node("QLinearConv", ["/quant/QuantizeLinear_output_0", "input_scale", "input_zero_point",
                                         "conv1.weight", "conv1.weight_scale", "conv1.weight_zero_point",
                                         "conv1.output_scale", "conv1.output_zero_point", "conv1.bias"],
                         ["/conv1/QLinearConv_output_0"], name="/conv1/QLinearConv", **conv),
        helper.make_node("QLinearConv", ["/conv1/QLinearConv_output_0", "conv1.output_scale", "conv1.output_zero_point",
                                         "conv2.weight", "conv2.weight_scale", "conv2.weight_zero_point",
                                         "conv2.output_scale", "conv2.output_zero_point", "conv2.bias"],
                         ["/conv2/QLinearConv_output_0"], name="/conv2/QLinearConv", **conv),
        helper.make_node("Flatten", ["/conv2/QLinearConv_output_0"], ["/Flatten_output_0"], name="/Flatten", axis=1),
        helper.make_node("QLinearMatMul", ["/Flatten_output_0", "conv2.output_scale", "conv2.output_zero_point",
                                           "fc.weight", "fc.weight_scale", "fc.weight_zero_point", "fc.output_scale",
                                           "fc.output_zero_point"], ["logits_q"], name="/fc/QLinearMatMul"),
        helper.make_node("DequantizeLinear", ["logits_q", "fc.output_scale", "fc.output_zero_point"],
                         ["/fc/DequantizeLinear_output_0"], name="/fc/DequantizeLinear"),
        helper.make_node("Add", ["/fc/DequantizeLinear_output_0", "fc.bias"], ["logits"], name="/fc/Add"),
    ]
    graph = helper.make_graph(
        nodes, "mnist_int8",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10]),
         helper.make_tensor_value_info("logits_q", TensorProto.INT8, ["N", 10])],
        [init(name) for name in p])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="faultline scripts/make_int8_model.py")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


def write_npy(path, array):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array), version=(1, 0))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    torch.set_num_threads(1)
    checks = Checks()
    print("NumPy spec functions against the ONNX conformance data:")
    check_against_conformance(checks)

    images, labels = read_digits()
    x_train = torch.from_numpy(to_input(images[HELD_OUT:]))
    y_train = torch.from_numpy(labels[HELD_OUT:])
    print(f"training on {len(x_train)} digits:")
    model = mnist_training.train(SmallCnn, x_train, y_train, seed=TRAIN_SEED, epochs=EPOCHS, batch=BATCH,
                                 learning_rate=LEARNING_RATE)
    held_x = to_input(images[:HELD_OUT])
    held_y = labels[:HELD_OUT]
    with torch.no_grad():
        float_logits = model(torch.from_numpy(held_x)).numpy()
    float_accuracy = float((float_logits.argmax(1) == held_y).mean())

    params = quantize(model, x_train[:CALIBRATION_IMAGES].numpy())
    int8_logits, _ = run_numpy(params, held_x)
    int8_accuracy = float((int8_logits.argmax(1) == held_y).mean())
    agreement = float((int8_logits.argmax(1) == float_logits.argmax(1)).mean())
    print(f"held-out accuracy: float {float_accuracy:.4f}, int8 {int8_accuracy:.4f}, top-1 agreement {agreement:.4f}")
    checks.expect(float_accuracy >= MIN_ACCURACY, f"float accuracy >= {MIN_ACCURACY}")
    checks.expect(int8_accuracy >= MIN_ACCURACY, f"int8 accuracy >= {MIN_ACCURACY}")

    model_proto = build_onnx(params)
    x = held_x[:TEST_IMAGES]
    logits, logits_q = run_numpy(params, x)
    checks.expect(logits_q.dtype == np.int8 and logits.dtype == np.float32, "output dtypes int8 / float32")
    checks.expect(len(np.unique(logits_q)) > 20, f"logits_q spans {len(np.unique(logits_q))} distinct int8 values")

    os.makedirs(OUT_DIR, exist_ok=True)
    files = {
        "mnist_int8.onnx": None,
        "mnist_int8_input.npy": x,
        "mnist_int8_logits.npy": logits,
        "mnist_int8_logits_q.npy": logits_q,
    }
    for name, array in files.items():
        path = os.path.join(OUT_DIR, name)
        if array is None:
            onnx.save(model_proto, path)
        else:
            write_npy(path, array)
    reloaded = onnx.load(os.path.join(OUT_DIR, "mnist_int8.onnx"))
    ops = [n.op_type for n in reloaded.graph.node]
    checks.expect(ops == ["QuantizeLinear", "QLinearConv", "QLinearConv", "Flatten", "QLinearMatMul",
                          "DequantizeLinear", "Add"], f"ops {ops}")
    for name in files:
        path = os.path.join(OUT_DIR, name)
        print(f"  {name:28s} {os.path.getsize(path):8d} bytes  sha256 {sha256(path)[:16]}")
    if checks.failed:
        print(f"{checks.failed} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
