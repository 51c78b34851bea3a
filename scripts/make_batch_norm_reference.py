#!/usr/bin/python3
"""PyTorch's CPU inference BatchNormalization, bit for bit, as test data (tests/data/ops/).

    /usr/bin/python3 -W ignore scripts/make_batch_norm_reference.py [--out tests/data/ops]

Writes (float32 .npy)
  batch_norm_x.npy        [2, 20, 5, 7] input: random normals with NaN, +-inf, -0.0, subnormals and 1e30s mixed in
  batch_norm_other.npy    [2, 20, 5, 7] the second operand of the residual Add (random, a few specials)
  batch_norm_params.npy   [4, 20] scale, bias, running_mean, running_var (epsilon 1e-5), ordinary channels plus
                          the values faults make: a negative and a zero variance, a scale of 3e38 (alpha
                          overflows to inf), an inf / NaN mean, a -0.0 scale, a 1e30 bias
  batch_norm_y.npy        torch.nn.BatchNorm2d(20).eval()(x)
  batch_norm_add_relu_y.npy   torch.relu(bn(x) + other), a ResNet block's tail

and checks that torch computes y = fma(x, alpha, beta) per element with alpha = scale * (1 / sqrt(var + eps))
and beta = fma(-mean, alpha, bias) in float32 (aten's batch_norm_cpu_collect_linear_and_constant_terms and
batch_norm_cpu_contiguous_impl, whose a * b + c the compiler contracts into fused multiply-adds), computed
here independently in float64 (exact products, one rounding), on contiguous and channels-last inputs.
Exit status 0 when every check passed.
"""

import argparse
import os
import sys

import numpy as np
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "ops")
SHAPE = (2, 20, 5, 7)
EPSILON = 1e-5


def fma32(a, b, c):
    """float32 fma: the float64 product of two float32 is exact; the sum rounds once to float64 and then to
    float32, which equals one rounding except in double-rounding ties that the checks below would catch."""
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)


def make_inputs(rng):
    x = rng.standard_normal(SHAPE).astype(np.float32)
    flat = x.reshape(-1)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e-42, 1e30, -1e30, 3.0e38]
    positions = rng.choice(flat.size, size=4 * len(specials), replace=False)
    for k, p in enumerate(positions):
        flat[p] = specials[k % len(specials)]
    other = rng.standard_normal(SHAPE).astype(np.float32)
    other.reshape(-1)[rng.choice(flat.size, size=6, replace=False)] = [np.nan, np.inf, -np.inf, -0.0, 1e30, -1e30]
    c = SHAPE[1]
    scale = rng.uniform(0.5, 2.0, c).astype(np.float32)
    bias = rng.uniform(-1.0, 1.0, c).astype(np.float32)
    mean = rng.uniform(-1.0, 1.0, c).astype(np.float32)
    var = rng.uniform(0.2, 3.0, c).astype(np.float32)
    var[3] = -0.5      # sign flip of running_var: sqrt(negative) = NaN
    var[4] = 0.0       # 1 / sqrt(eps)
    scale[5] = 3.0e38  # alpha = inf
    mean[6] = np.inf
    mean[7] = np.nan
    scale[8] = -0.0
    bias[9] = 1e30
    return x, other, np.stack([scale, bias, mean, var])


def same_bits(a, b):
    return np.array_equal(a.view(np.uint32), b.view(np.uint32)) or (
        np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.where(np.isnan(a), 0, a).view(np.uint32),
                                                                    np.where(np.isnan(b), 0, b).view(np.uint32)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, other, params = make_inputs(np.random.default_rng(7))
    scale, bias, mean, var = params
    bn = torch.nn.BatchNorm2d(SHAPE[1], eps=EPSILON).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(scale))
        bn.bias.copy_(torch.from_numpy(bias))
        bn.running_mean.copy_(torch.from_numpy(mean))
        bn.running_var.copy_(torch.from_numpy(var))
        tx = torch.from_numpy(x)
        y = bn(tx).numpy()
        y_last = bn(tx.contiguous(memory_format=torch.channels_last)).contiguous().numpy()
        add_relu = torch.relu(bn(tx) + torch.from_numpy(other)).numpy()

    with np.errstate(all="ignore"):
        inv_std = (np.float32(1.0) / np.sqrt(var + np.float32(EPSILON))).astype(np.float32)
        alpha = (scale * inv_std).astype(np.float32)
        beta = fma32(-mean, alpha, bias)
        expected = fma32(x, alpha[None, :, None, None], beta[None, :, None, None])
    ok = True
    for name, got in [("contiguous", y), ("channels_last", y_last)]:
        if not same_bits(got, expected):
            bad = np.argwhere(~((got == expected) | (np.isnan(got) & np.isnan(expected))))
            print(f"FAIL: torch's {name} BatchNorm differs from fma(x, alpha, beta) at {len(bad)} elements, "
                  f"first {bad[:3].tolist()}")
            ok = False
    nan_channels = sorted(set(np.argwhere(np.isnan(y))[:, 1].tolist()))
    print(f"batch norm: {y.size} elements, {int(np.isnan(y).sum())} NaN (channels {nan_channels}), "
          f"{int(np.isinf(y).sum())} inf; the fma form {'matches' if ok else 'does NOT match'} torch bit for bit")
    os.makedirs(args.out, exist_ok=True)
    for name, array in [("batch_norm_x", x), ("batch_norm_other", other), ("batch_norm_params", params),
                        ("batch_norm_y", y), ("batch_norm_add_relu_y", add_relu)]:
        np.save(os.path.join(args.out, name + ".npy"), np.ascontiguousarray(array, dtype=np.float32))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
