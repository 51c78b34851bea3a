#!/usr/bin/python3
"""Makes the spiking MNIST example of examples/: a small spiking classifier trained on the bundled digits,
exported to NIR by the writer below (no `nir` package needed).

Run with Debian's interpreter (python3-torch 1.13, python3-h5py, python3-numpy):

    /usr/bin/python3 -W ignore scripts/make_spiking_mnist.py [--data examples/data] [--out DIR]

Reads  examples/data/mnist_digits.h5 (scripts/make_mnist_demo.py: file indices 0..1999 held out, 2000..9999
       training digits, pixels uint8 k, used as float32(k) / 255).
Writes examples/data/spiking_mnist.nir: Input [784] -> fc1 Affine (784 -> 100) -> lif1 LIF [100] -> fc2 Affine
       (100 -> 10) -> lif2 LIF [10] -> Output [10], as `nir.write` lays a graph out (HDF5: /node/type "NIRGraph",
       /node/nodes/<name>/{type, parameters...}, /node/edges [E, 2] strings, /version), float32 gzip datasets.
       examples/spiking_mnist_faults.csv (next to the data folder): the example campaign's fault list (fault_rows).
Prints the accuracy numbers recorded in examples/data/PROVENANCE.md.

The network is simulated, in training and evaluation alike, with faultline's LIF step
(kernels/reference/neuron_kernels.h) at dt = 1e-4 (faultline's default): a = float32(dt) / float32(tau),
v1 = v + a * ((v_leak - v) + r * x), spike z = v1 > v_threshold, then v = z ? v_reset : v1 (NIR's reset to
v_reset = 0). tau = 1e-3 (a = 0.1, snnTorch's beta = 0.9), r = 10 (so a * r * x is about x, snnTorch's
Leaky input), v_leak 0, threshold 1. Training: surrogate gradient (the fast sigmoid's derivative,
1 / (1 + 25 |v1 - thr|)^2, snnTorch's default slope) through the Heaviside, cross-entropy on the output spike
counts over T = 25 steps, rate (Bernoulli) coded inputs; Adam 5e-3, 4 epochs of minibatches of 100, torch seed
1, one thread. The class is the output neuron with most spikes, ties to the lowest index (torch.argmax).

Evaluation on the first HELD_OUT_EVAL held-out digits: with direct encoding (the image every step: no
randomness, so faultline's count must match up to float32 summation order in the matrix products), and with
rate encoding (torch's Bernoulli draws; faultline draws its own, so its rate accuracy differs by sampling
noise only).
"""

import argparse
import os
import sys

import h5py
import numpy as np
import torch

STEPS = 25
HIDDEN = 100
DT = np.float32(1e-4)
TAU = np.float32(1e-3)
R = np.float32(10.0)
THRESHOLD = np.float32(1.0)
EPOCHS = 4
BATCH = 100
LR = 5e-3
HELD_OUT = 2000
HELD_OUT_EVAL = 500
MIN_ACCURACY = 0.85


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + 25.0 * x.abs()) ** 2


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, HIDDEN)
        self.fc2 = torch.nn.Linear(HIDDEN, 10)
        self.a = torch.tensor(np.float32(DT / TAU))  # float32 division, as faultline computes dt / tau

    def lif(self, v, x):
        v1 = v + self.a * ((0.0 - v) + R * x)
        z = Spike.apply(v1 - THRESHOLD)
        return z, v1 * (1.0 - z)  # reset to v_reset = 0 (the gradient flows through the kept membrane)

    def forward(self, steps):  # steps [T, N, 784] -> spike counts [N, 10]
        v1 = torch.zeros(steps.shape[1], HIDDEN)
        v2 = torch.zeros(steps.shape[1], 10)
        counts = 0
        for t in range(steps.shape[0]):
            z1, v1 = self.lif(v1, self.fc1(steps[t]))
            z2, v2 = self.lif(v2, self.fc2(z1))
            counts = counts + z2
        return counts


def rate(images, generator):
    return torch.bernoulli(images.unsqueeze(0).expand(STEPS, *images.shape), generator=generator)


def write_nir(path, net):
    """NIR's HDF5 layout (nir.write): every parameter float32, gzip-compressed; strings variable-length; no
    timestamps, so the same weights give the same bytes."""
    string = h5py.string_dtype()
    w1 = net.fc1.weight.detach().numpy().astype(np.float32)
    b1 = net.fc1.bias.detach().numpy().astype(np.float32)
    w2 = net.fc2.weight.detach().numpy().astype(np.float32)
    b2 = net.fc2.bias.detach().numpy().astype(np.float32)

    def lif(n):
        return {"tau": np.full(n, TAU, np.float32), "r": np.full(n, R, np.float32),
                "v_leak": np.zeros(n, np.float32), "v_threshold": np.full(n, THRESHOLD, np.float32),
                "v_reset": np.zeros(n, np.float32)}

    nodes = {
        "input": ("Input", {"shape": np.array([784], np.int64)}),
        "fc1": ("Affine", {"weight": w1, "bias": b1}),
        "lif1": ("LIF", lif(HIDDEN)),
        "fc2": ("Affine", {"weight": w2, "bias": b2}),
        "lif2": ("LIF", lif(10)),
        "output": ("Output", {"shape": np.array([10], np.int64)}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    def create_group(parent, name):  # h5py's create_group stamps the group's times: make it without them
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))

    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="0.2.0", dtype=string, track_times=False)
        node = create_group(f, "node")
        node.create_dataset("type", data="NIRGraph", dtype=string, track_times=False)
        node.create_dataset("edges", data=np.array(edges, dtype=object), dtype=string, track_times=False)
        group = create_group(node, "nodes")
        for name, (kind, params) in nodes.items():
            g = create_group(group, name)
            g.create_dataset("type", data=kind, dtype=string, track_times=False)
            for key, value in params.items():
                g.create_dataset(key, data=value, compression="gzip", compression_opts=9, track_times=False)


def fault_rows():
    """The example's fault list (SpikingJET's layout: Layer names the neuron parameter or state, Step the time
    step or range; no Target column). Every 10th hidden neuron and every output neuron."""
    rows = []
    hidden, outputs = range(0, HIDDEN, 10), range(10)
    for layer, neurons in (("lif1", hidden), ("lif2", outputs)):
        for n in neurons:  # threshold 1.0: bit 30 -> +Inf (never fires), bit 29 -> 5.4e-20 (fires at any v1 > 0)
            rows += [(f"{layer}.threshold", n, "30", "bitflip", "", ""), (f"{layer}.threshold", n, "29", "bitflip", "", "")]
    for n in hidden:  # a transient upset of the membrane after step 5's update
        rows.append(("lif1.potential", n, "", "value", "10", "5"))
    for n in outputs:
        rows.append(("lif2.potential", n, "30", "bitflip", "", "10"))  # exponent bit 30 after step 10 (0 -> 2.0)
        rows.append(("lif2.potential", n, "", "value", "2", "0-24"))   # stuck above threshold: fires every step
        rows.append(("lif2.dead", n, "", "", "", ""))                  # output spikes stuck at 0
    lines = ["Injection,Layer,TensorIndex,Bit,Model,Value,Step"]
    for i, (layer, n, bit, model, value, step) in enumerate(rows):
        lines.append(f'{i},{layer},"({n},)",{bit},{model},{value},{step}')
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "examples", "data"))
    parser.add_argument("--out", default=None, help="where to write spiking_mnist.nir (default: --data)")
    parser.add_argument("--faults-only", action="store_true", help="write only examples/spiking_mnist_faults.csv")
    args = parser.parse_args()
    faults_path = os.path.join(os.path.dirname(os.path.abspath(args.data)), "spiking_mnist_faults.csv")
    with open(faults_path, "w") as f:
        f.write(fault_rows())
    print(f"wrote {faults_path}")
    if args.faults_only:
        return
    torch.manual_seed(1)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    with h5py.File(os.path.join(args.data, "mnist_digits.h5"), "r") as f:
        pixels = f["images"][()].reshape(10000, 784)
        labels = f["labels"][()].astype(np.int64)
    images = torch.from_numpy(pixels.astype(np.float32) / np.float32(255))  # float32(k) / 255
    labels = torch.from_numpy(labels)
    train_x, train_y = images[HELD_OUT:], labels[HELD_OUT:]
    test_x, test_y = images[:HELD_OUT_EVAL], labels[:HELD_OUT_EVAL]

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(1)
    for epoch in range(EPOCHS):
        order = torch.randperm(train_x.shape[0], generator=generator)
        correct = 0
        for first in range(0, len(order), BATCH):
            batch = order[first:first + BATCH]
            counts = net(rate(train_x[batch], generator))
            loss = torch.nn.functional.cross_entropy(counts, train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += int((counts.argmax(1) == train_y[batch]).sum())
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, training accuracy {correct}/{len(order)}")

    with torch.no_grad():
        direct = net(test_x.unsqueeze(0).expand(STEPS, *test_x.shape)).argmax(1)
        rated = net(rate(test_x, torch.Generator().manual_seed(2))).argmax(1)
    direct_correct = int((direct == test_y).sum())
    rate_correct = int((rated == test_y).sum())
    print(f"held-out digits 0..{HELD_OUT_EVAL - 1}: direct encoding {direct_correct}/{HELD_OUT_EVAL}, "
          f"rate encoding {rate_correct}/{HELD_OUT_EVAL}")
    if rate_correct < MIN_ACCURACY * HELD_OUT_EVAL:
        sys.exit(f"rate-coded accuracy {rate_correct}/{HELD_OUT_EVAL} is below {MIN_ACCURACY}")
    path = os.path.join(args.out or args.data, "spiking_mnist.nir")
    write_nir(path, net)
    with h5py.File(path, "r") as f:  # the round trip
        assert f["node/nodes/fc1/weight"].dtype == np.float32
        assert np.array_equal(f["node/nodes/fc2/weight"][()], net.fc2.weight.detach().numpy())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
