#!/usr/bin/python3
"""Writes tests/data/models/bottleneck_1x1.onnx and bottleneck_1x1_input.npy: a ResNet-50-like pair of 1x1
convolutions (3 -> 512 -> 128 channels on 28x28 maps, BatchNorm kept, ReLU), global average pooling and a
linear classifier, seeded random weights, and 4 seeded random images.

oneDNN runs 1x1 convolutions with many input channels in its jit_1x1 kernels, which sum the input channels in
cache-sized chunks chosen from the problem's size: a primitive made for a crop of the output would sum them in
other chunks. tests/test_spatial_window.cpp and tests/test_incremental_replay.cpp use this model to check that
partial runs (window crops, channel slices) never use such kernels: ResNet-50's 512 -> 128 convolution at 28x28
was where a crop first rounded otherwise than the whole step.

    /usr/bin/python3 scripts/make_bottleneck_model.py [--out tests/data/models]
"""
import argparse
import os

import numpy as np
import torch
from torch import nn


class Bottleneck1x1(nn.Module):
    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(3, 512, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(512)
        self.reduce = nn.Conv2d(512, 128, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.expand(x)))
        x = self.relu(self.bn2(self.reduce(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models"))
    a = ap.parse_args()
    torch.manual_seed(0)
    model = Bottleneck1x1().eval()
    with torch.no_grad():  # BatchNorm statistics that keep the activations around unit scale
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    images = np.random.default_rng(3).standard_normal((4, 3, 28, 28)).astype(np.float32)
    path = os.path.join(a.out, "bottleneck_1x1.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 28, 28), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    np.save(os.path.join(a.out, "bottleneck_1x1_input.npy"), images, allow_pickle=False)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
