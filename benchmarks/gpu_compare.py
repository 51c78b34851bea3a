"""faultline's CUDA backend against PyTorch on the same GPU, in one run: the Python half of benchmarks/gpu_compare.sh.

    python3 benchmarks/gpu_compare.py --faultline BUILD/faultline --out DIR [--dry-run] [--work DIR]

Parts, each timed side by side (PyTorch in this process, faultline as a subprocess, one after the other):
  resnet50   torchvision ResNet-50 (or the same bottleneck layout from torch.nn when torchvision is missing),
             random weights (seed 0, BatchNorm statistics calibrated on one random batch), exported here to ONNX
             with torch.onnx.export. 224x224, batch 256, float32 with TF32 allowed on both sides
             (torch.backends.{cudnn,cuda.matmul}.allow_tf32, FAULTLINE_CUDA_TF32=1). PyTorch eager with the input
             resident on the GPU (the usual figure), eager with cudnn.benchmark, and eager with the batch copied
             from host memory and the logits back (what `faultline bench` does each batch); faultline bench, and
             (cuda) faultline bench --resident, the batch copied to the GPU once as in the resident eager figure.
             float16: PyTorch only, for the record: the cuda backend runs float32 only (other dtypes go to the
             reference kernel on the host), so there is no faultline float16 figure.
  resnet20   akamaster's CIFAR-10 ResNet20 (scripts/make_test_models.py's module and the committed checkpoint)
             at batch 1000: PyTorch eager vs `faultline bench tests/data/models/resnet20.onnx` (the same
             checkpoint, BatchNorm folded by the exporter), TF32 allowed on both sides.
  campaign   a weight bit-flip campaign on that ResNet20 (BatchNorm kept: tests/data/models/resnet20_bn.onnx
             holds the PyTorch parameter names), faults drawn uniformly over every Conv/Linear weight element,
             bit uniform in 0..31 (seed 0), over N(0, 1) images (seed 1). PyTorch by hand on the GPU (flip the
             bit in place through an int32 view, run every image, count changed top-1, restore) against
             `faultline run` with backend cuda on the same fault list and images, in fault-images/s, TF32 off
             on both sides; per-fault outcomes compared by benchmarks/campaign_outcomes.py.
  checks     `faultline infer` against PyTorch on the first images of both clean models (top-1 agreement and
             the largest logit difference), so that the timed runs are known to compute the same network.

Writes gpu_compare.json (every figure, settings, versions, commands) and gpu_compare.md (the table) into --out.
--dry-run runs every step on the CPU with tiny sizes and faultline's onednn backend: it checks the plumbing
(exports, fault list, YAML, output parsing, the table), not speed.
"""

import argparse
import contextlib
import copy
import csv
import importlib
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import torch
import torch.nn as nn

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import campaign_outcomes  # noqa: E402

MODELS = os.path.join(REPO_ROOT, "tests", "data", "models")
OPSET = 13

# (full run, --dry-run) sizes
SIZES = {
    "resnet50_batch": (256, 2), "resnet50_images": (2560, 2), "reps": (3, 1),
    "resnet20_batch": (1000, 10), "resnet20_images": (20000, 20),
    "campaign_faults": (1000, 3), "campaign_images": (1000, 20), "campaign_batch": (1000, 10),
    "check_images": (64, 2),
}


def log(message):
    print(message, flush=True)


class Failure(Exception):
    """One line for the user: what failed and where its output is."""


# ----------------------------------------------------------------------------------------------- models
class Bottleneck(nn.Module):
    """torchvision's ResNet-50 bottleneck (stride on the 3x3 conv), used when torchvision is not installed."""

    expansion = 4

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(nn.Module):
    """He et al. 2016's ResNet-50 for 224x224 ImageNet inputs: 7x7 stem, max pool, stages of 3/4/6/3 bottlenecks."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, in_planes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers = []
            for i in range(blocks):
                layers.append(Bottleneck(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(calibration_images):
    """(model, source): torchvision's resnet50 when importable, else ResNet50 above; seed 0, eval mode, with the
    BatchNorm running statistics of one train-mode pass over `calibration_images` (so activations keep a sane
    scale through 50 layers and the logits are worth comparing)."""
    torch.manual_seed(0)
    try:
        import torchvision
        model, source = torchvision.models.resnet50(), f"torchvision {torchvision.__version__} resnet50"
    except ImportError:
        model, source = ResNet50(), "torch.nn ResNet-50 of gpu_compare.py (torchvision not installed)"
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: the statistics of exactly this batch
    with torch.no_grad():
        model.train()(calibration_images)
    return model.eval(), source


def import_make_test_models():
    """scripts/make_test_models.py, the module that made tests/data/models/resnet20*.onnx. Its top level imports
    onnx and torchvision for other models; where they are missing, empty stand-ins let the ResNet20 parts load."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "scripts"))
    stubs = []
    for name in ("onnx", "onnx.numpy_helper", "torchvision", "torchvision.models", "torchvision.models.densenet",
                 "torchvision.models.googlenet"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
            stubs.append(name)
    if "onnx.numpy_helper" in stubs:
        sys.modules["onnx"].numpy_helper = sys.modules["onnx.numpy_helper"]
    try:
        return importlib.import_module("make_test_models")
    finally:
        for name in stubs:
            del sys.modules[name]


def resnet20():
    """akamaster's pretrained ResNet20 (eval), loaded by make_test_models.pretrained_resnet20."""
    mtm = import_make_test_models()
    path = os.path.join(MODELS, mtm.CHECKPOINT)
    try:
        model, _, _ = mtm.pretrained_resnet20(path)
    except Exception:  # torch >= 2.6 loads weights_only by default; this legacy pickle is ours (committed)
        if "weights_only" not in inspect.signature(torch.load).parameters:
            raise
        load = torch.load
        torch.load = lambda *a, **k: load(*a, **{**k, "weights_only": False})
        try:
            model, _, _ = mtm.pretrained_resnet20(path)
        finally:
            torch.load = load
    return model


def export_onnx(model, path, image_size):
    """torch.onnx.export, opset 13, dynamic batch, input 'input', output 'logits' (the TorchScript exporter:
    newer torch defaults to the dynamo one, which needs onnxscript)."""
    kwargs = dict(opset_version=OPSET, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model.eval(), torch.zeros(1, 3, image_size, image_size), path, **kwargs)
    return path


# ------------------------------------------------------------------------------------------- measuring
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_torch(model, x, images, reps, device, host_io=False):
    """Images/s of `model` on batch `x` repeated over `images` images (whole batches), best and median of `reps`
    runs after one warm-up batch. host_io: x lives in host memory and goes to the device every batch, and the
    logits come back (as `faultline bench` does); else x is resident on the device."""
    batch = x.shape[0]
    batches = max(1, -(-images // batch))
    x = x if host_io else x.to(device)

    def one_batch():
        if host_io:
            return model(x.to(device)).cpu()
        return model(x)

    rates = []
    with torch.no_grad():
        one_batch()
        sync(device)
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(batches):
                one_batch()
            sync(device)
            rates.append(batches * batch / (time.perf_counter() - t0))
    rates.sort()
    return dict(best=rates[-1], median=rates[len(rates) // 2], runs=rates, batch=batch, images=batches * batch)


@contextlib.contextmanager
def torch_flags(tf32, cudnn_benchmark=False):
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


class Faultline:
    """Runs the faultline command, recording every command line (and its wall time) for the results."""

    def __init__(self, binary, backend, work, commands):
        self.binary, self.backend, self.work, self.commands = binary, backend, work, commands

    def run(self, args, tf32=False, name="faultline"):
        env = dict(os.environ)
        env.pop("FAULTLINE_CUDA_TF32", None)
        if tf32:
            env["FAULTLINE_CUDA_TF32"] = "1"
        cmd = [self.binary] + [str(a) for a in args]
        shown = ("FAULTLINE_CUDA_TF32=1 " if tf32 else "") + " ".join(cmd)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=self.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - t0
        self.commands.append(dict(command=shown, seconds=round(seconds, 3), exit=proc.returncode))
        log_path = os.path.join(self.work, f"{name}.log")
        with open(log_path, "w") as f:
            f.write(proc.stdout)
        if proc.returncode != 0:
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "(no output)"
            raise Failure(f"'{shown}' failed (exit {proc.returncode}): {last}")
        return proc.stdout, seconds

    def bench(self, model, batch, images, reps, tf32, name, resident=False):
        out, _ = self.run(["bench", model, "--backend", self.backend, "--batch", batch, "--images", images,
                           "--repeat", reps] + (["--resident"] if resident else []), tf32=tf32, name=name)
        m = re.search(r"images/s\s+([0-9.]+) best, ([0-9.]+) median", out)
        if not m:
            raise Failure(f"no 'images/s' line in the output of faultline bench {model} ({self.work}/{name}.log)")
        return dict(best=float(m.group(1)), median=float(m.group(2)), batch=batch, images=-(-images // batch) * batch)

    def infer(self, model, x, batch, tf32, name):
        np.save(os.path.join(self.work, f"{name}_input.npy"), x.numpy().astype(np.float32))
        self.run(["infer", model, "--input", f"{name}_input.npy", "--output", f"{name}_output.npy", "--backend",
                  self.backend, "--batch", batch], tf32=tf32, name=name)
        return np.load(os.path.join(self.work, f"{name}_output.npy"))


def agreement(ours, theirs):
    """Top-1 agreement and the largest |difference| relative to the largest |logit|."""
    theirs = theirs.astype(np.float64)
    scale = max(float(np.abs(theirs).max()), 1e-30)
    return dict(images=int(ours.shape[0]), top1_agree=int((ours.argmax(1) == theirs.argmax(1)).sum()),
                max_rel_diff=float(np.abs(ours - theirs).max() / scale))


# ---------------------------------------------------------------------------------------------- parts
def part_resnet50(fl, args, device, size, res):
    log("== ResNet-50, 224x224: export, PyTorch eager, faultline bench")
    g = torch.Generator().manual_seed(2)
    model, source = resnet50(torch.randn(8 if args.dry_run else 32, 3, 224, 224, generator=g))
    onnx_path = export_onnx(model, os.path.join(fl.work, "resnet50.onnx"), 224)
    batch, images, reps = size("resnet50_batch"), size("resnet50_images"), size("reps")
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    part = dict(model=source, onnx_bytes=os.path.getsize(onnx_path), batch=batch, rows=[])
    dev_model = model.to(device)
    with torch_flags(tf32=True):
        part["rows"].append(dict(engine="PyTorch eager", precision="fp32+TF32", io="resident",
                                 **time_torch(dev_model, x, images, reps, device)))
        part["rows"].append(dict(engine="PyTorch eager", precision="fp32+TF32", io="host copy per batch",
                                 **time_torch(dev_model, x, images, reps, device, host_io=True)))
    with torch_flags(tf32=True, cudnn_benchmark=True):
        part["rows"].append(dict(engine="PyTorch eager, cudnn.benchmark", precision="fp32+TF32", io="resident",
                                 **time_torch(dev_model, x, images, reps, device)))
    if device.type == "cuda":
        with torch_flags(tf32=True, cudnn_benchmark=True):
            half = copy.deepcopy(dev_model).half()
            part["rows"].append(dict(engine="PyTorch eager, cudnn.benchmark", precision="fp16", io="resident",
                                     **time_torch(half, x.half(), images, reps, device)))
            del half
    part["fp16_note"] = ("faultline has no float16 CUDA path: kernels/cuda runs float32 only and sends other dtypes "
                         "to the reference kernel on the host, so only PyTorch's fp16 figure is recorded"
                         + ("" if device.type == "cuda" else "; PyTorch fp16 not measured on the CPU (--dry-run)"))
    part["rows"].append(dict(engine=f"faultline bench --backend {fl.backend}", precision="fp32+TF32",
                             io="host copy per batch",
                             **fl.bench("resnet50.onnx", batch, images, reps, tf32=True, name="bench_resnet50")))
    if fl.backend == "cuda":
        part["rows"].append(dict(engine="faultline bench --backend cuda --resident", precision="fp32+TF32",
                                 io="resident", **fl.bench("resnet50.onnx", batch, images, reps, tf32=True,
                                                           name="bench_resnet50_resident", resident=True)))
    n = size("check_images")
    xc = torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch_flags(tf32=True), torch.no_grad():
        theirs = dev_model(xc.to(device)).float().cpu().numpy()
    part["check"] = agreement(fl.infer("resnet50.onnx", xc, n, tf32=True, name="infer_resnet50"), theirs)
    res["resnet50"] = part


def part_resnet20(fl, args, device, size, res, model):
    log("== CIFAR ResNet20 (akamaster checkpoint): PyTorch eager, faultline bench")
    batch, images, reps = size("resnet20_batch"), size("resnet20_images"), size("reps")
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    part = dict(model="akamaster ResNet20 (tests/data/models/resnet20.onnx; PyTorch: make_test_models.ResNet)",
                batch=batch, rows=[])
    with torch_flags(tf32=True):
        part["rows"].append(dict(engine="PyTorch eager", precision="fp32+TF32", io="resident",
                                 **time_torch(model, x, images, reps, device)))
        part["rows"].append(dict(engine="PyTorch eager", precision="fp32+TF32", io="host copy per batch",
                                 **time_torch(model, x, images, reps, device, host_io=True)))
    part["rows"].append(dict(engine=f"faultline bench --backend {fl.backend}", precision="fp32+TF32",
                             io="host copy per batch",
                             **fl.bench(os.path.join(MODELS, "resnet20.onnx"), batch, images, reps, tf32=True,
                                        name="bench_resnet20")))
    if fl.backend == "cuda":
        part["rows"].append(dict(engine="faultline bench --backend cuda --resident", precision="fp32+TF32",
                                 io="resident", **fl.bench(os.path.join(MODELS, "resnet20.onnx"), batch, images, reps,
                                                           tf32=True, name="bench_resnet20_resident", resident=True)))
    n = size("check_images")
    xc = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch_flags(tf32=True), torch.no_grad():
        theirs = model(xc.to(device)).cpu().numpy()
    part["check"] = agreement(fl.infer(os.path.join(MODELS, "resnet20.onnx"), xc, n, tf32=True,
                                       name="infer_resnet20"), theirs)
    res["resnet20"] = part


def fault_list(model, count, seed):
    """`count` (layer name, flat index, bit): elements uniform over every Conv2d/Linear weight, bit uniform 0..31."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    sizes = np.array([m.weight.numel() for _, m in layers], dtype=np.int64)
    ends = np.cumsum(sizes)
    rng = np.random.default_rng(seed)
    flat = rng.integers(0, int(ends[-1]), size=count)
    bits = rng.integers(0, 32, size=count)
    faults = []
    for f, bit in zip(flat, bits):
        layer = int(np.searchsorted(ends, f, side="right"))
        faults.append((layers[layer][0], int(f - (ends[layer] - sizes[layer])), int(bit)))
    return faults, {name: m for name, m in layers}


def torch_campaign(model, x, batch, faults, modules):
    """The by-hand campaign: per fault, flip the bit of the weight in place (int32 view of the float32 storage),
    run every image, count top-1 changes and images with NaN/Inf logits, restore the saved weight."""
    with torch.no_grad():
        golden = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])
        sdc, nonfinite = [], []
        t0 = time.perf_counter()
        for name, flat, bit in faults:
            w = modules[name].weight
            saved = w.detach().clone()
            words = w.data.view(-1).view(torch.int32)
            words[flat] ^= (1 << bit) if bit < 31 else -(1 << 31)
            changed = torch.zeros((), dtype=torch.int64, device=x.device)
            bad = torch.zeros((), dtype=torch.int64, device=x.device)
            for i in range(0, x.shape[0], batch):
                logits = model(x[i:i + batch])
                changed += (logits.argmax(1) != golden[i:i + batch]).sum()
                bad += (~torch.isfinite(logits).all(1)).sum()
            w.data.copy_(saved)
            sdc.append(changed)
            nonfinite.append(bad)
        sdc = torch.stack(sdc).tolist()  # one synchronisation, at the end
        nonfinite = int(torch.stack(nonfinite).sum())
        seconds = time.perf_counter() - t0
        after = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])
    if not torch.equal(after, golden):
        raise Failure("the PyTorch campaign did not restore the weights (golden predictions changed)")
    return seconds, sdc, nonfinite


def part_campaign(fl, args, device, size, res, model):
    log("== ResNet20 weight-fault campaign: PyTorch by hand vs faultline run")
    count, images, batch = size("campaign_faults"), size("campaign_images"), size("campaign_batch")
    faults, modules = fault_list(model, count, seed=0)
    x = torch.randn(images, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    np.save(os.path.join(fl.work, "campaign_images.npy"), x.numpy())
    with open(os.path.join(fl.work, "campaign_faults.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Injection", "Layer", "TensorIndex", "Bit", "Target"])
        for i, (name, flat, bit) in enumerate(faults):
            out.writerow([i, name, flat, bit, "weight"])
    with open(os.path.join(fl.work, "campaign_one_fault.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Injection", "Layer", "TensorIndex", "Bit", "Target"])
        out.writerow([0, faults[0][0], faults[0][1], faults[0][2], "weight"])
    for name, listed in (("campaign", "campaign_faults.csv"), ("campaign_one_fault", "campaign_one_fault.csv")):
        with open(os.path.join(fl.work, name + ".yaml"), "w") as f:
            f.write(f"model: {os.path.join(MODELS, 'resnet20_bn.onnx')}\nbackend: {fl.backend}\nbatch_size: {batch}\n"
                    f"dataset: {{format: npy, inputs: campaign_images.npy}}\nfaults: {{list: {listed}}}\n"
                    f"output: {name}_results\n")
    with torch_flags(tf32=False):
        seconds, sdc, nonfinite = torch_campaign(model, x.to(device), batch, faults, modules)
    _, fl_seconds = fl.run(["run", "campaign.yaml", "--quiet"], tf32=False, name="campaign")
    # The fixed cost (start-up, CUDA and cuDNN initialisation, planning, the golden pass): the same command
    # on the first fault alone; the campaign's own time is the difference.
    _, fl_one_seconds = fl.run(["run", "campaign_one_fault.yaml", "--quiet"], tf32=False, name="campaign_one_fault")
    rows = campaign_outcomes.faultline_summary(os.path.join(fl.work, "campaign_results"))
    same, differing = campaign_outcomes.compare(rows, sdc, nonfinite)
    fault_images = count * images
    res["campaign"] = dict(
        faults=count, images=images, batch=batch, precision="fp32 (TF32 off on both sides)",
        pytorch=dict(seconds=seconds, fault_images_per_s=fault_images / seconds, sdc_fault_images=sum(sdc),
                     nonfinite_fault_images=nonfinite),
        faultline=dict(seconds=fl_seconds, fault_images_per_s=fault_images / fl_seconds,
                       note="wall time of the whole `faultline run`: loading, planning, golden pass, campaign",
                       one_fault_seconds=fl_one_seconds,
                       faults_seconds=fl_seconds - fl_one_seconds,
                       # (none when the difference is within timing noise: --dry-run's tiny campaign)
                       faults_fault_images_per_s=(count - 1) * images / (fl_seconds - fl_one_seconds)
                       if fl_seconds - fl_one_seconds > 0.05 else None,
                       critical_fault_images=sum(int(r["critical"]) for r in rows),
                       due_fault_images=sum(int(r["due"]) for r in rows)),
        same_outcomes=same, differing=differing[:20],
        differing_line=None if same else campaign_outcomes.describe(rows, nonfinite, differing))


# --------------------------------------------------------------------------------------------- report
def environment(device):
    env = dict(python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
               cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
               else None, machine=platform.machine(), cores=os.cpu_count(), device=str(device))
    try:
        import torchvision
        env["torchvision"] = torchvision.__version__
    except ImportError:
        env["torchvision"] = None
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def table(res):
    lines = []
    for key, title in (("resnet50", "ResNet-50, 224x224"), ("resnet20", "CIFAR ResNet20")):
        part = res.get(key)
        if not part:
            continue
        ref = next(r for r in part["rows"] if r["engine"] == "PyTorch eager" and r["io"] == "resident")
        ref_io = next(r for r in part["rows"] if r["engine"] == "PyTorch eager" and r["io"] != "resident")
        lines += [f"### {title}, batch {part['batch']} ({part['model']})", "",
                  "| engine | precision | input | best img/s | median img/s | vs eager (resident) | vs eager (host copy) |",
                  "|---|---|---|---|---|---|---|"]
        for r in part["rows"]:
            lines.append(f"| {r['engine']} | {r['precision']} | {r['io']} | {r['best']:,.1f} | {r['median']:,.1f} | "
                         f"{r['best'] / ref['best']:.2f}x | {r['best'] / ref_io['best']:.2f}x |")
        c = part["check"]
        lines += ["", f"faultline infer vs PyTorch on {c['images']} images: top-1 agrees on {c['top1_agree']}, "
                      f"largest logit difference {c['max_rel_diff']:.2e} of the largest |logit|."]
        if key == "resnet50":
            lines.append(part["fp16_note"] + ".")
        lines.append("")
    c = res.get("campaign")
    if c:
        p, f = c["pytorch"], c["faultline"]
        lines += [f"### ResNet20 weight-fault campaign: {c['faults']} faults x {c['images']} images, batch {c['batch']}, "
                  f"{c['precision']}", "",
                  "| engine | seconds | fault-images/s | ratio |", "|---|---|---|---|",
                  f"| PyTorch by hand | {p['seconds']:.2f} | {p['fault_images_per_s']:,.0f} | 1.00x |",
                  f"| faultline run (whole command) | {f['seconds']:.2f} | {f['fault_images_per_s']:,.0f} | "
                  f"{f['fault_images_per_s'] / p['fault_images_per_s']:.2f}x |",
                  f"| faultline run, less its one-fault run ({f['one_fault_seconds']:.2f} s: start-up, planning, "
                  f"golden pass) | {f['faults_seconds']:.2f} | "
                  + (f"{f['faults_fault_images_per_s']:,.0f} | {f['faults_fault_images_per_s'] / p['fault_images_per_s']:.2f}x |"
                     if f['faults_fault_images_per_s'] else "- | - |"), "",
                  f"Same per-fault top-1 outcomes: {'yes' if c['same_outcomes'] else 'NO'} "
                  f"(PyTorch: {p['sdc_fault_images']} changed fault-images, {p['nonfinite_fault_images']} with NaN/Inf; "
                  f"faultline: {f['critical_fault_images']} critical, {f['due_fault_images']} due)."]
        if c["differing_line"]:
            lines.append(c["differing_line"])
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faultline", required=True, help="the faultline command (a CUDA build)")
    ap.add_argument("--out", required=True, help="results folder (gpu_compare.json, gpu_compare.md)")
    ap.add_argument("--work", help="folder for the exported models, images and faultline results (default: a "
                    "temporary folder, removed at the end)")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, faultline's onednn backend")
    ap.add_argument("--parts", default="resnet50,resnet20,campaign", help="comma list of parts to run")
    ap.add_argument("--faults", type=int, help="campaign faults (default 1000)")
    a = ap.parse_args(argv)
    parts = set(filter(None, a.parts.split(",")))
    if parts - {"resnet50", "resnet20", "campaign"}:
        ap.error(f"unknown parts {sorted(parts - {'resnet50', 'resnet20', 'campaign'})}")
    if a.dry_run:
        device, backend = torch.device("cpu"), "onednn"
    else:
        if not torch.cuda.is_available():
            raise Failure(f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
        device, backend = torch.device("cuda", 0), "cuda"

    def size(key):
        if key == "campaign_faults" and a.faults:
            return a.faults
        return SIZES[key][1 if a.dry_run else 0]

    os.makedirs(a.out, exist_ok=True)
    commands = []
    res = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), dry_run=a.dry_run, env=environment(device),
               faultline=os.path.abspath(a.faultline), commands=commands)
    with contextlib.ExitStack() as stack:
        work = a.work or stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu_compare."))
        os.makedirs(work, exist_ok=True)
        fl = Faultline(os.path.abspath(a.faultline), backend, work, commands)
        t0 = time.perf_counter()
        if "resnet50" in parts:
            part_resnet50(fl, a, device, size, res)
        if parts & {"resnet20", "campaign"}:
            model = resnet20().to(device)
            if "resnet20" in parts:
                part_resnet20(fl, a, device, size, res, model)
            if "campaign" in parts:
                part_campaign(fl, a, device, size, res, model)
        res["seconds"] = round(time.perf_counter() - t0, 1)
    md = table(res)
    head = (f"gpu_compare {'(DRY RUN: CPU, tiny sizes, onednn; not speed figures) ' if a.dry_run else ''}"
            f"{res['date']}: {res['env'].get('gpu', 'cpu')}, torch {res['env']['torch']} (CUDA {res['env']['cuda']}, "
            f"cuDNN {res['env']['cudnn']}), torchvision {res['env']['torchvision']}\n")
    print("\n" + head + "\n" + md, flush=True)
    with open(os.path.join(a.out, "gpu_compare.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    with open(os.path.join(a.out, "gpu_compare.md"), "w") as f:
        f.write("# " + head + "\n" + md + "\n## Commands\n\nRun in the work folder (the exported models, images, fault "
                "list and YAML; kept with --work):\n\n" +
                "\n".join(f"    {c['command']}    # {c['seconds']} s" for c in commands) + "\n")
    if "campaign" in res and not res["campaign"]["same_outcomes"]:
        log("gpu_compare: WARNING: the campaigns' per-fault outcomes differ (see the table)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"gpu_compare.py: {e}", file=sys.stderr)
        sys.exit(1)
