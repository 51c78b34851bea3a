#!/usr/bin/python3
"""Reference data for faultline's Keras frontend (tests/test_keras_*.cpp), written to tests/data/keras/.

    /usr/bin/python3 -W ignore scripts/make_keras_reference.py

No TensorFlow: every output here is computed by a small interpreter of Keras configs written for this script from
the Keras layer documentation, with PyTorch functional ops (torch 1.13, float32, one thread) and the weights read
by h5py. Tensors stay in Keras' NHWC order; only the torch conv/pool calls see NCHW. What it writes:

- the real tf.keras files copied from /work/shared/fixtures/keras (byte copies; see PROVENANCE.md): LeNet-5,
  MLPerf Tiny ResNet-8, ACETONE's Concat model (+ its test input as .npy);
- reference outputs: ResNet-8 on 4 synthetic images, Concat on its test input, LeNet-5 on the 10,000 MNIST digits
  of examples/data/mnist_digits.h5 (predicted classes and the accuracy);
- synthetic legacy .h5 models (written here in tf.keras' layout: model_config + model_weights/<layer>/<layer>/
  <w>:0 with layer_names / weight_names) for layers the real files lack, with their reference outputs;
- resnet8.keras: a Keras 3 archive (config.json in the Keras 3 schema, model.weights.h5 with layers/<name>/vars/<i>,
  metadata.json) holding ResNet-8's real weights;
- resnet8_faults.csv and the outputs the faults give (weight, activation and input faults at Keras-order indexes).
"""
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "keras")
FIXTURES = "/work/shared/fixtures/keras"
DIGITS = os.path.join(ROOT, "examples", "data", "mnist_digits.h5")


# ----------------------------------------------------------------------------------------------------------------
# Reading Keras files
# ----------------------------------------------------------------------------------------------------------------

def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_h5(path):
    """(config dict, {layer: [np arrays in weight_names order]}) of a legacy full-model .h5."""
    with h5py.File(path, "r") as f:
        config = json.loads(_text(f.attrs["model_config"]))
        g = f["model_weights"]
        weights = {}
        for layer in g.attrs["layer_names"]:
            layer = _text(layer)
            names = [_text(n) for n in g[layer].attrs.get("weight_names", [])]
            weights[layer] = [np.array(g[layer][n], dtype=np.float32) for n in names]
    return config, weights


def model_graph(config):
    """(layers [(class, name, cfg, calls)], inputs [(layer, node)], outputs [(layer, node)]) from a tf.keras 2
    config; a Sequential model becomes a chain."""
    cls, cfg = config["class_name"], config["config"]
    if cls == "Sequential":
        entries = cfg["layers"]
        layers = []
        prev = None
        for e in entries:
            c = e["config"]
            if e["class_name"] == "InputLayer":
                layers.append(("InputLayer", c["name"], c, []))
                prev = c["name"]
                continue
            if prev is None:
                name = c["name"] + "_input"
                layers.append(("InputLayer", name, {"batch_input_shape": c["batch_input_shape"]}, []))
                prev = name
            layers.append((e["class_name"], c["name"], c, [[(prev, 0)]]))
            prev = c["name"]
        return layers, [(layers[0][1], 0)], [(prev, 0)]
    layers = []
    for e in cfg["layers"]:
        calls = [[(t[0], t[1]) for t in node] for node in e["inbound_nodes"]]
        layers.append((e["class_name"], e["name"], e["config"], calls))
    return layers, [(t[0], t[1]) for t in cfg["input_layers"]], [(t[0], t[1]) for t in cfg["output_layers"]]


# ----------------------------------------------------------------------------------------------------------------
# The interpreter: Keras semantics, NHWC tensors, torch functional ops
# ----------------------------------------------------------------------------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pads(size, k, s, d):
    """TensorFlow SAME: out = ceil(size / s); the odd pixel goes at the end."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def pad_for(x, cfg, k, s, d, value=0.0):
    """x NHWC padded for `padding` = same (TF rule) or valid."""
    if cfg.get("padding", "valid") != "same":
        return x
    top, bottom = same_pads(x.shape[1], k[0], s[0], d[0])
    left, right = same_pads(x.shape[2], k[1], s[1], d[1])
    return F.pad(x, (0, 0, left, right, top, bottom), value=value)


def activation(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "relu6":
        return torch.clamp(x, 0.0, 6.0)
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    if name in ("swish", "silu"):
        return x * torch.sigmoid(x)
    raise ValueError("activation " + name)


def conv(x, kernel_hwio, bias, cfg, groups=1):
    k = kernel_hwio.shape[:2]
    s, d = pair(cfg.get("strides", 1)), pair(cfg.get("dilation_rate", 1))
    x = pad_for(x, cfg, k, s, d)
    w = torch.from_numpy(kernel_hwio).permute(3, 2, 0, 1)  # OIHW
    b = None if bias is None else torch.from_numpy(bias)
    return nhwc(F.conv2d(nchw(x), w, b, stride=s, dilation=d, groups=groups))


def depthwise(x, kernel, cfg):
    kh, kw, c, m = kernel.shape
    s, d = pair(cfg.get("strides", 1)), pair(cfg.get("dilation_rate", 1))
    x = pad_for(x, cfg, (kh, kw), s, d)
    # output channel c*m + j reads input channel c with kernel[:, :, c, j]
    w = torch.from_numpy(kernel).permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    return nhwc(F.conv2d(nchw(x), w, None, stride=s, dilation=d, groups=c))


def pool(x, cfg, kind):
    k = pair(cfg.get("pool_size", 2))
    s = pair(cfg.get("strides") or k)
    if kind == "max":
        x = pad_for(x, cfg, k, s, (1, 1), value=float("-inf"))
        return nhwc(F.max_pool2d(nchw(x), k, s))
    ones = torch.ones_like(x[..., :1])
    total = F.avg_pool2d(nchw(pad_for(x, cfg, k, s, (1, 1))), k, s, divisor_override=1)
    count = F.avg_pool2d(nchw(pad_for(ones, cfg, k, s, (1, 1))), k, s, divisor_override=1)
    return nhwc(total / count)  # TF averages over the pixels inside the image


def layer_forward(cls, cfg, inputs, w):
    x = inputs[0]
    if cls == "Conv2D":
        y = conv(x, w[0], w[1] if cfg.get("use_bias", True) else None, cfg, cfg.get("groups", 1))
        return activation(y, cfg.get("activation"))
    if cls == "DepthwiseConv2D":
        y = depthwise(x, w[0], cfg)
        if cfg.get("use_bias", True):
            y = y + torch.from_numpy(w[1])
        return activation(y, cfg.get("activation"))
    if cls == "SeparableConv2D":
        y = depthwise(x, w[0], cfg)
        y = conv(y, w[1], w[2] if cfg.get("use_bias", True) else None, {"padding": "valid"})
        return activation(y, cfg.get("activation"))
    if cls == "Dense":
        y = x @ torch.from_numpy(w[0])
        if cfg.get("use_bias", True):
            y = y + torch.from_numpy(w[1])
        return activation(y, cfg.get("activation"))
    if cls == "BatchNormalization":
        i = 0
        gamma = beta = None
        if cfg.get("scale", True):
            gamma, i = torch.from_numpy(w[i]), i + 1
        if cfg.get("center", True):
            beta, i = torch.from_numpy(w[i]), i + 1
        mean, var = torch.from_numpy(w[i]), torch.from_numpy(w[i + 1])
        y = (x - mean) / torch.sqrt(var + cfg.get("epsilon", 1e-3))
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y
    if cls == "Activation":
        return activation(x, cfg["activation"])
    if cls == "ReLU":
        y = torch.relu(x)
        return y if cfg.get("max_value") is None else torch.clamp(y, max=float(cfg["max_value"]))
    if cls == "MaxPooling2D":
        return pool(x, cfg, "max")
    if cls == "AveragePooling2D":
        return pool(x, cfg, "avg")
    if cls == "GlobalAveragePooling2D":
        return x.mean(dim=(1, 2))
    if cls == "GlobalMaxPooling2D":
        return x.amax(dim=(1, 2))
    if cls == "Flatten":
        return x.reshape(x.shape[0], -1)  # NHWC: channels-last order, as Keras flattens
    if cls == "Dropout":
        return x
    if cls == "ZeroPadding2D":
        (t, b), (l, r) = cfg["padding"]
        return F.pad(x, (0, 0, l, r, t, b))
    if cls == "Reshape":
        return x.reshape((x.shape[0],) + tuple(cfg["target_shape"]))
    if cls == "Add":
        y = inputs[0]
        for other in inputs[1:]:
            y = y + other
        return y
    if cls == "Concatenate":
        return torch.cat(inputs, dim=cfg.get("axis", -1))
    raise ValueError("layer class " + cls)


def run_model(config, weights, inputs, fault=None):
    """Outputs (numpy, Keras order) of the model on `inputs` (NHWC numpy list). `fault(kind, layer, tensors)`
    may change a layer's inputs ('input') or output ('activation') in place, per Keras-order indexes."""
    layers, input_refs, output_refs = model_graph(config)
    produced = {}
    for (name, node), x in zip(input_refs, inputs):
        produced[(name, node)] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    pending = [(cls, name, cfg, i, call) for cls, name, cfg, calls in layers if cls != "InputLayer"
               for i, call in enumerate(calls)]
    with torch.no_grad():
        while pending:
            rest = []
            for cls, name, cfg, i, call in pending:
                if not all(ref in produced for ref in call):
                    rest.append((cls, name, cfg, i, call))
                    continue
                xs = [produced[ref].clone() for ref in call]
                if fault:
                    fault("input", name, xs)
                y = layer_forward(cls, cfg, xs, weights.get(name, []))
                if fault:
                    box = [y]
                    fault("activation", name, box)
                    y = box[0]
                produced[(name, i)] = y
            if len(rest) == len(pending):
                raise RuntimeError("unresolvable layers: %s" % [p[1] for p in rest])
            pending = rest
    return [produced[ref].numpy().astype(np.float32) for ref in output_refs]


# ----------------------------------------------------------------------------------------------------------------
# Writing Keras files
# ----------------------------------------------------------------------------------------------------------------

def write_legacy_h5(path, config, weights, names):
    """A tf.keras 2 legacy full-model .h5: model_config, model_weights/<layer>/<layer>/<w>:0 (names[layer])."""
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        layer_names = [l[1] for l in model_graph(config)[0]]
        g.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
        for layer in layer_names:
            lg = g.create_group(layer)
            arrays = weights.get(layer, [])
            wn = ["%s/%s:0" % (layer, n) for n in names.get(layer, [])][:len(arrays)]
            lg.attrs["weight_names"] = np.array([n.encode() for n in wn])
            for n, a in zip(wn, arrays):
                lg.create_dataset(n, data=a)


def keras3_layer(cls, name, cfg, inbound):
    return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None, "name": name,
            "inbound_nodes": inbound}


def keras_tensor(layer, node, shape):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, node, 0]}}


def to_keras3(config):
    """The Keras 3 config.json form of a tf.keras 2 Functional config (call args as __keras_tensor__ objects, a
    DTypePolicy per layer, batch_shape for the InputLayer, single input/output as one [name, 0, 0])."""
    cfg = config["config"]
    layers = []
    for e in cfg["layers"]:
        c = dict(e["config"])
        if e["class_name"] == "InputLayer":
            c = {"batch_shape": c["batch_input_shape"], "dtype": "float32", "sparse": False, "name": c["name"]}
        else:
            c["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                          "registered_name": None}
        if "activation" in c and isinstance(c["activation"], str) and e["class_name"] == "Activation":
            c["activation"] = c["activation"]
        inbound = []
        for node in e["inbound_nodes"]:
            tensors = [keras_tensor(t[0], t[1], None) for t in node]
            args = [tensors] if len(tensors) > 1 else tensors
            inbound.append({"args": args, "kwargs": {}})
        layers.append(keras3_layer(e["class_name"], e["name"], c, inbound))
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": cfg["name"], "trainable": True, "layers": layers,
                       "input_layers": cfg["input_layers"][0], "output_layers": cfg["output_layers"][0]},
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def write_keras3(path, config3, weights):
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        layers = f.create_group("layers")
        for layer in config3["config"]["layers"]:
            g = layers.create_group(layer["name"])
            v = g.create_group("vars")
            for i, a in enumerate(weights.get(layer["name"], [])):
                v.create_dataset(str(i), data=a)
        f.create_group("vars")
    metadata = {"keras_version": "3.3.3", "date_saved": "2024-05-01@00:00:00"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in (("metadata.json", json.dumps(metadata)), ("config.json", json.dumps(config3)),
                           ("model.weights.h5", image.getvalue())):
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


# ----------------------------------------------------------------------------------------------------------------
# Synthetic models
# ----------------------------------------------------------------------------------------------------------------

def rnd(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def functional(name, layers, inputs, outputs):
    return {"class_name": "Functional", "config": {"name": name, "layers": layers, "input_layers": inputs,
                                                   "output_layers": outputs}}


def L(cls, name, cfg, inbound):
    cfg = dict(cfg, name=name)
    return {"class_name": cls, "config": cfg, "name": name,
            "inbound_nodes": [[[t[0], t[1], 0, {}] for t in node] for node in inbound]}


def synthetic_mobile(rng):
    """ZeroPadding2D, DepthwiseConv2D (depth_multiplier 2, stride 2, Activation relu6), SeparableConv2D (swish),
    BatchNormalization without center and scale, ReLU(max_value=6), GlobalMaxPooling2D, Dense chain."""
    layers = [
        L("InputLayer", "image", {"batch_input_shape": [None, 12, 12, 3], "dtype": "float32"}, []),
        L("ZeroPadding2D", "pad", {"padding": [[1, 2], [0, 1]], "data_format": "channels_last"}, [[("image", 0)]]),
        L("DepthwiseConv2D", "dw", {"kernel_size": [3, 3], "strides": [2, 2], "padding": "valid",
                                   "depth_multiplier": 2, "use_bias": True, "activation": "linear",
                                   "data_format": "channels_last", "dilation_rate": [1, 1]}, [[("pad", 0)]]),
        L("Activation", "dw_relu6", {"activation": "relu6"}, [[("dw", 0)]]),
        L("SeparableConv2D", "sep", {"filters": 5, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                                    "depth_multiplier": 1, "use_bias": True, "activation": "swish",
                                    "data_format": "channels_last", "dilation_rate": [1, 1]}, [[("dw_relu6", 0)]]),
        L("BatchNormalization", "bn", {"axis": [3], "epsilon": 0.01, "center": False, "scale": False},
          [[("sep", 0)]]),
        L("Conv2D", "pw", {"filters": 4, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid",
                          "activation": "linear", "use_bias": True, "groups": 1, "dilation_rate": [1, 1],
                          "data_format": "channels_last"}, [[("bn", 0)]]),
        L("ReLU", "clip", {"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, [[("pw", 0)]]),
        L("GlobalMaxPooling2D", "gmp", {"data_format": "channels_last"}, [[("clip", 0)]]),
        L("Dense", "fc1", {"units": 6, "activation": "swish", "use_bias": True}, [[("gmp", 0)]]),
        L("Dense", "fc2", {"units": 3, "activation": "softmax", "use_bias": True}, [[("fc1", 0)]]),
    ]
    config = functional("synthetic_mobile", layers, [["image", 0, 0]], [["fc2", 0, 0]])
    var = np.abs(rnd(rng, 5, scale=1.0)) + 0.2
    weights = {"dw": [rnd(rng, 3, 3, 3, 2), rnd(rng, 6, scale=0.1)],
               "sep": [rnd(rng, 3, 3, 6, 1), rnd(rng, 1, 1, 6, 5), rnd(rng, 5, scale=0.1)],
               "bn": [rnd(rng, 5, scale=0.3), var],
               "pw": [rnd(rng, 1, 1, 5, 4), rnd(rng, 4, scale=0.1)],
               "fc1": [rnd(rng, 4, 6), rnd(rng, 6, scale=0.1)],
               "fc2": [rnd(rng, 6, 3), rnd(rng, 3, scale=0.1)]}
    names = {"dw": ["depthwise_kernel", "bias"], "sep": ["depthwise_kernel", "pointwise_kernel", "bias"],
             "bn": ["moving_mean", "moving_variance"], "pw": ["kernel", "bias"], "fc1": ["kernel", "bias"],
             "fc2": ["kernel", "bias"]}
    return config, weights, names, [rng.uniform(0, 1, (3, 12, 12, 3)).astype(np.float32)]


def synthetic_branches(rng):
    """A Conv2D called twice (two inbound nodes, shared weights), MaxPooling2D and AveragePooling2D with same
    padding, dilation, a 3-input Add, Concatenate over channels, GlobalAveragePooling2D, a 4-D model output
    next to a 2-D one."""
    conv = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "activation": "relu", "use_bias": True,
            "groups": 1, "dilation_rate": [1, 1], "data_format": "channels_last"}
    layers = [
        L("InputLayer", "x", {"batch_input_shape": [None, 9, 9, 2], "dtype": "float32"}, []),
        L("Conv2D", "stem", dict(conv, filters=3, strides=[2, 2]), [[("x", 0)]]),
        L("MaxPooling2D", "maxpool", {"pool_size": [2, 2], "strides": [1, 1], "padding": "same",
                                      "data_format": "channels_last"}, [[("stem", 0)]]),
        L("AveragePooling2D", "avgpool", {"pool_size": [3, 3], "strides": [1, 1], "padding": "same",
                                          "data_format": "channels_last"}, [[("stem", 0)]]),
        L("Conv2D", "shared", dict(conv, filters=3, activation="tanh"), [[("maxpool", 0)], [("avgpool", 0)]]),
        L("Add", "sum3", {}, [[("shared", 0), ("shared", 1), ("stem", 0)]]),
        L("Concatenate", "cat", {"axis": -1}, [[("sum3", 0), ("shared", 1)]]),
        L("Conv2D", "dilated", dict(conv, filters=4, padding="valid", dilation_rate=[2, 2], activation="linear"),
          [[("cat", 0)]]),
        L("GlobalAveragePooling2D", "gap", {"data_format": "channels_last"}, [[("dilated", 0)]]),
        L("Dense", "head", {"units": 3, "activation": "sigmoid", "use_bias": True}, [[("gap", 0)]]),
    ]
    config = functional("synthetic_branches", layers, [["x", 0, 0]], [["head", 0, 0], ["cat", 0, 0]])
    weights = {"stem": [rnd(rng, 3, 3, 2, 3), rnd(rng, 3, scale=0.1)],
               "shared": [rnd(rng, 3, 3, 3, 3), rnd(rng, 3, scale=0.1)],
               "dilated": [rnd(rng, 3, 3, 6, 4), rnd(rng, 4, scale=0.1)],
               "head": [rnd(rng, 4, 3), rnd(rng, 3, scale=0.1)]}
    names = {k: ["kernel", "bias"] for k in weights}
    return config, weights, names, [rng.uniform(0, 1, (3, 9, 9, 2)).astype(np.float32)]


def synthetic_dense(rng):
    """An old-style Sequential (no InputLayer entry: the first layer's batch_input_shape), a Dense chain with
    Dropout, Reshape to an image, Conv2D without bias, Flatten of an image (channels-last order)."""
    def D(cls, name, cfg):
        return {"class_name": cls, "config": dict(cfg, name=name)}
    layers = [
        D("Dense", "d1", {"units": 16, "activation": "relu", "use_bias": True, "batch_input_shape": [None, 10]}),
        D("Dense", "d2", {"units": 12, "activation": "tanh", "use_bias": True}),
        D("Dropout", "drop", {"rate": 0.5}),
        D("Dense", "d3", {"units": 12, "activation": "sigmoid", "use_bias": True}),
        D("Reshape", "to_image", {"target_shape": [2, 2, 3]}),
        D("Conv2D", "c1", {"filters": 2, "kernel_size": [2, 1], "strides": [1, 1], "padding": "valid",
                           "activation": "linear", "use_bias": False, "groups": 1, "dilation_rate": [1, 1],
                           "data_format": "channels_last"}),
        D("Flatten", "flat", {"data_format": "channels_last"}),
        D("Dense", "out", {"units": 4, "activation": "softmax", "use_bias": True}),
    ]
    config = {"class_name": "Sequential", "config": {"name": "synthetic_dense", "layers": layers}}
    weights = {"d1": [rnd(rng, 10, 16), rnd(rng, 16, scale=0.1)], "d2": [rnd(rng, 16, 12), rnd(rng, 12, scale=0.1)],
               "d3": [rnd(rng, 12, 12), rnd(rng, 12, scale=0.1)], "c1": [rnd(rng, 2, 1, 3, 2)],
               "out": [rnd(rng, 4, 4), rnd(rng, 4, scale=0.1)]}
    names = {"d1": ["kernel", "bias"], "d2": ["kernel", "bias"], "d3": ["kernel", "bias"], "c1": ["kernel"],
             "out": ["kernel", "bias"]}
    return config, weights, names, [rng.standard_normal((4, 10)).astype(np.float32)]


# ----------------------------------------------------------------------------------------------------------------
# Faults on ResNet-8 (Keras-order indexes, as tf_injector lists them)
# ----------------------------------------------------------------------------------------------------------------

def flip(value, bit):
    word = struct.unpack("<I", struct.pack("<f", float(value)))[0] ^ (1 << bit)
    return struct.unpack("<f", struct.pack("<I", word))[0]


RESNET8_FAULTS = [
    # (Target, Layer, TensorIndex, Bit / Model, Value)
    ("weight", "conv2d_1", (1, 2, 5, 11), 27, None),
    ("weight", "conv2d_7/kernel:0", (0, 2, 40, 3), 31, None),
    ("weight", "dense", (16, 4), 26, None),
    ("weight", "batch_normalization_2/moving_variance:0", (9,), 29, None),
    ("activation", "activation", (4, 9, 3), 28, None),
    ("activation", "batch_normalization_3", (7, 2, 20), None, 1000.0),
    ("activation", "flatten", (38,), 31, None),
    ("input", "add_1:1", (3, 12, 30), None, 50.0),
]


def resnet8_with_fault(config, weights, images, fault):
    target, layer, index, bit, value = fault
    w = {k: [a.copy() for a in v] for k, v in weights.items()}
    hook = None
    if target == "weight":
        name = layer.split("/")[0]
        slot = 0
        if "/" in layer:
            var = layer.split("/")[1].split(":")[0]
            slot = ["gamma", "beta", "moving_mean", "moving_variance"].index(var) if name.startswith("batch") else \
                ["kernel", "bias"].index(var)
        w[name][slot][index] = flip(w[name][slot][index], bit)
    else:
        layer_name, slot = (layer.split(":")[0], int(layer.split(":")[1])) if ":" in layer else (layer, 0)

        def hook(kind, name, tensors):
            if kind != target or name != layer_name:
                return
            t = tensors[slot]
            for n in range(t.shape[0]):
                where = (n,) + tuple(index)
                t[where] = value if bit is None else flip(t[where].item(), bit)
    return run_model(config, w, [images], hook)[0]


# ----------------------------------------------------------------------------------------------------------------

def save(name, array):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=array.dtype))


def check_margins(outputs, what):
    top2 = np.sort(outputs, axis=-1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    assert np.all(margin > 1e-3 * np.maximum(np.abs(top2[:, 1]), 1e-3)), (what, margin)


def main():
    os.makedirs(OUT, exist_ok=True)
    for src, dst in (("acetone_lenet5_trained.h5", "acetone_lenet5_trained.h5"),
                     ("mlperf_tiny_ic_pretrainedResnet.h5", "mlperf_tiny_ic_pretrainedResnet.h5"),
                     ("acetone_concat/Concat.h5", "acetone_concat.h5")):
        shutil.copyfile(os.path.join(FIXTURES, src), os.path.join(OUT, dst))
    rng = np.random.default_rng(20240501)

    # ACETONE Concat on its own test input (300 floats, NHWC 10x10x3).
    config, weights = read_h5(os.path.join(OUT, "acetone_concat.h5"))
    with open(os.path.join(FIXTURES, "acetone_concat", "test_input_Concat.txt")) as f:
        concat_in = np.array(json.load(f), dtype=np.float32).reshape(1, 10, 10, 3)
    save("acetone_concat_input.npy", concat_in)
    save("acetone_concat_output.npy", run_model(config, weights, [concat_in])[0])

    # ResNet-8 on 4 smooth synthetic images in [0, 1] (no CIFAR data offline).
    config, weights = read_h5(os.path.join(OUT, "mlperf_tiny_ic_pretrainedResnet.h5"))
    coarse = torch.from_numpy(rng.uniform(0, 1, (4, 3, 8, 8)).astype(np.float32))
    images = nhwc(F.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)).numpy()
    images = np.ascontiguousarray(images, dtype=np.float32)
    out = run_model(config, weights, [images])[0]
    check_margins(out, "resnet8")
    save("resnet8_input.npy", images)
    save("resnet8_output.npy", out)
    # The same model as a Keras 3 archive.
    write_keras3(os.path.join(OUT, "resnet8.keras"), to_keras3(config), weights)
    # Faults at Keras-order indexes, and the outputs they give.
    rows = ["Injection,Layer,TensorIndex,Bit,Target,Model,Value"]
    faulty = []
    for i, fault in enumerate(RESNET8_FAULTS):
        target, layer, index, bit, value = fault
        idx = "(" + ", ".join(str(v) for v in index) + ("," if len(index) == 1 else "") + ")"
        model = "bitflip" if bit is not None else "value"
        rows.append('%d,%s,"%s",%s,%s,%s,%s' % (i, layer, idx, "" if bit is None else bit, target, model,
                                                "" if value is None else repr(value)))
        y = resnet8_with_fault(config, weights, images, fault)
        assert not np.array_equal(y, out), fault
        check_margins(y, fault)
        faulty.append(y)
    with open(os.path.join(OUT, "resnet8_faults.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    save("resnet8_faults_output.npy", np.stack(faulty))

    # LeNet-5 on the 10,000 MNIST digits (x / 255, NHWC).
    config, weights = read_h5(os.path.join(OUT, "acetone_lenet5_trained.h5"))
    with h5py.File(DIGITS, "r") as f:
        digits = np.array(f["images"], dtype=np.float32) / 255.0
        labels = np.array(f["labels"], dtype=np.int64)
    probs = run_model(config, weights, [digits])[0]
    predicted = probs.argmax(axis=1)
    save("lenet5_mnist_predictions.npy", predicted.astype(np.uint8))
    correct = int((predicted == labels).sum())
    save("lenet5_input.npy", digits[:8])
    save("lenet5_output.npy", probs[:8])

    # Synthetic models.
    for make, name in ((synthetic_mobile, "synthetic_mobile"), (synthetic_branches, "synthetic_branches"),
                       (synthetic_dense, "synthetic_dense")):
        config, weights, names, inputs = make(rng)
        path = os.path.join(OUT, name + ".h5")
        write_legacy_h5(path, config, weights, names)
        config_back, weights_back = read_h5(path)
        outputs = run_model(config_back, weights_back, inputs)
        save(name + "_input.npy", inputs[0])
        for k, y in enumerate(outputs):
            save("%s_output%s.npy" % (name, "" if k == 0 else str(k)), y)

    print("LeNet-5 on the 10,000 digits: %d correct (%.2f %%)" % (correct, correct / 100.0))
    for f in sorted(os.listdir(OUT)):
        print("%-45s %9d" % (f, os.path.getsize(os.path.join(OUT, f))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
