"""By-hand PyTorch transient-fault campaign on the peer's ResNet20, for benchmarks/campaign_compare.sh --transient.

Transient (single-inference) activation faults: one bit of one element of one Conv2d / Linear output, in one
image. The by-hand way with PyTorch: a forward hook flips the element, and only the fault's image runs (batch 1,
the cheapest pass that contains it; eager mode, since hooks need it), its top-1 compared with the golden top-1.
Sites are drawn as the peer harness draws its neuron faults (uniform over every output element of every
Conv2d / Linear, bit uniform in 0..31, from random.Random(seed)), and each fault's image uniformly over the
images. Writes the same faults as a faultline list (Target activation, Batch, Persistence inference) and a
JSON with the timing and per-fault outcomes in the peer harness's shape (sdc_per_fault, nonfinite_fault_images).

    /usr/bin/python3 transient_peer.py PEER_DIR --faults K --images N --threads T --list OUT.csv --json OUT.json
"""

import argparse
import json
import random
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer_dir")
    ap.add_argument("--faults", type=int, required=True)
    ap.add_argument("--images", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--list", required=True)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.peer_dir)
    import model as peer_model  # noqa: E402
    import peer_campaign as peer  # noqa: E402

    torch.set_num_threads(a.threads)
    model = peer_model.resnet20(seed=0, shortcut="B").eval()  # the network model.py --onnx --keep-bn exports
    layers = peer.fault_layers(model)
    names = [n for n, m in model.named_modules() if m in layers]
    shapes = peer.output_shapes(model, layers)
    x = peer_model.random_images(a.images).contiguous()
    with torch.no_grad():
        golden, bad = peer.run_images(model, x, 100)
    assert not bad.any()
    rng = random.Random(a.seed)
    sizes = [int(torch.tensor(s).prod()) for s in shapes]
    sites = peer.sample_sites(sizes, a.faults, rng)
    images = [rng.randrange(a.images) for _ in sites]

    sdc, nonfinite = [], 0
    with torch.no_grad(), peer.CpuMeter() as meter:
        for (layer, flat, bit), image in zip(sites, images):
            loc = peer.unravel(flat, shapes[layer])
            mask = peer.bit_mask(bit)

            def hook(mod, inp, out, loc=loc, mask=mask):
                out[(0,) + loc].view(torch.int32).bitwise_xor_(mask)

            h = layers[layer].register_forward_hook(hook)
            y = model(x[image:image + 1])
            h.remove()
            sdc.append(int(y.argmax(1).item() != golden[image].item()))
            nonfinite += int(not torch.isfinite(y).all().item())
    with open(a.list, "w") as out:
        out.write("Injection,Layer,TensorIndex,Bit,Target,Batch,Persistence\n")
        for i, ((layer, flat, bit), image) in enumerate(zip(sites, images)):
            index = ", ".join(str(v) for v in peer.unravel(flat, shapes[layer]))
            out.write(f'{i},{names[layer]},"({index})",{bit},activation,{image},inference\n')
    json.dump(dict(faults=a.faults, images=a.images, seconds=round(meter.seconds, 4), sdc_per_fault=sdc,
                   nonfinite_fault_images=nonfinite, **meter.info()), open(a.json, "w"))


if __name__ == "__main__":
    main()
