#!/usr/bin/python3
"""Reference simulation of NIR spiking networks, for tests/test_nir_equivalence.cpp.

Written from NIR's documented equations (neuromorphs/NIR docs/source/primitives.md and nir/ir/neuron.py
docstrings), not from faultline's code: forward Euler with time step dt, float32, in the operation order
kernels/reference/neuron_kernels.h documents (which is part of the contract, so that two float32
implementations can agree bit for bit):

  LI      a = dt / tau;  v1 = v + a * ((v_leak - v) + (r * x))
  I / IF  v1 = v + dt * (r * x)
  Cuba    a_syn = dt / tau_syn;  i1 = i + a_syn * ((w_in * x) - i);  v1 = LI step of v driven by i1 (tau_mem)
  spike   z = v1 > v_threshold                      (strict, as NIR's Heaviside)
  reset   NIR ("zero"):  v = v_reset where z, else v1
          "subtract" (snnTorch): v_next = v1 - (v > v_threshold ? v_threshold : 0); z = v_next > v_threshold
  Threshold  z = x > threshold

Graph semantics (documented in frontends/nir/nir_import.h): several edges into a node are summed, in the
order of the source names; nested NIRGraphs are flattened; an edge that closes a cycle, found by a depth-first
walk from the Input nodes in name order (successors in name order), carries the previous step's value (zeros at
step 0). Sums (Affine/Linear/Conv/SumPool) accumulate in float32 from 0 in index order (Conv: input channel,
then kernel row, then kernel column), the bias added last. float64 parameters are rounded to float32.

Usage:
    /usr/bin/python3 scripts/nir_reference.py            # writes tests/data/nir/*_{input,spikes,membrane,counts}.npy
    /usr/bin/python3 scripts/nir_reference.py --check    # recomputes and compares with the committed files
"""

import os
import sys

import h5py
import numpy as np

F32 = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "nir")


# --- reading ------------------------------------------------------------------------------------------------

def read_group(group):
    node = {"type": group["type"][()].decode() if isinstance(group["type"][()], bytes) else str(group["type"][()])}
    fields = {}
    for key in group:
        if key in ("type", "nodes", "edges"):
            continue
        item = group[key]
        if isinstance(item, h5py.Dataset):
            value = item[()]
            if isinstance(value, bytes):
                value = value.decode()
            fields[key] = value
    node["fields"] = fields
    if "nodes" in group:
        node["nodes"] = {name: read_group(group["nodes"][name]) for name in group["nodes"]}
        edges = group["edges"][()] if "edges" in group else np.zeros((0, 2), dtype=object)
        node["edges"] = [(s.decode() if isinstance(s, bytes) else s, d.decode() if isinstance(d, bytes) else d)
                         for s, d in edges]
    return node


def flatten(graph, prefix, nodes, edges):
    entry, exit_ = {}, {}
    for name, node in sorted(graph["nodes"].items()):
        full = prefix + name
        if node["type"] == "NIRGraph":
            inputs = [n for n, v in node["nodes"].items() if v["type"] == "Input"]
            outputs = [n for n, v in node["nodes"].items() if v["type"] == "Output"]
            entry[full], exit_[full] = full + "." + inputs[0], full + "." + outputs[0]
            sub_entry, sub_exit = flatten(node, full + ".", nodes, edges)
            entry.update(sub_entry)
            exit_.update(sub_exit)
        else:
            node = dict(node)
            node["passthrough"] = prefix != "" and node["type"] in ("Input", "Output")
            nodes[full] = node
    for src, dst in graph["edges"]:
        assert src in graph["nodes"] and dst in graph["nodes"], "malformed graph: edge %s -> %s" % (src, dst)
        s, d = prefix + src, prefix + dst
        while s in exit_:
            s = exit_[s]
        while d in entry:
            d = entry[d]
        edges.append((s, d))
    return entry, exit_


def load(path):
    with h5py.File(path, "r") as f:
        root = read_group(f["node"])
    nodes, edges = {}, []
    flatten(root, "", nodes, edges)
    succ = {n: sorted(d for s, d in edges if s == n) for n in nodes}
    pred = {n: sorted(s for s, d in edges if d == n) for n in nodes}
    roots = sorted(n for n, v in nodes.items() if v["type"] == "Input" and not v["passthrough"])
    state, post, delayed = {n: 0 for n in nodes}, [], set()

    def visit(u):
        state[u] = 1
        for v in succ[u]:
            if state[v] == 1:
                delayed.add((u, v))
            elif state[v] == 0:
                visit(v)
        state[u] = 2
        post.append(u)

    for r in roots:
        if state[r] == 0:
            visit(r)
    order = post[::-1]
    return nodes, pred, delayed, order, roots


def param(node, name, default=None):
    fields = node["fields"]
    if name not in fields:
        if default is None:
            raise KeyError(name)
        return F32(default)
    return np.asarray(fields[name], dtype=np.float64).astype(F32)


def ints(node, name, axes, default):
    if name not in node["fields"]:
        return list(default)
    value = np.atleast_1d(np.asarray(node["fields"][name])).astype(np.int64).tolist()
    return value * axes if len(value) == 1 else value


# --- operators (float32, index-order sums) ------------------------------------------------------------------

def affine(x, w, b):
    acc = np.zeros((x.shape[0], w.shape[0]), dtype=F32)
    for k in range(w.shape[1]):
        acc = acc + x[:, k:k + 1] * w[None, :, k]
    return acc + b[None, :] if b is not None else acc


def window_sum(x, w, stride, pads, groups):
    """Conv over [N, C, H, W] with weight [M, C/groups, KH, KW]: channel, then kernel row, then column."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]), dtype=F32)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (h + pads[0] + pads[2] - kh) // stride[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // stride[1] + 1
    out = np.zeros((n, m, oh, ow), dtype=F32)
    mg = m // groups
    for g in range(groups):
        acc = np.zeros((n, mg, oh, ow), dtype=F32)
        for ci in range(cg):
            for i in range(kh):
                for j in range(kw):
                    tap = xp[:, g * cg + ci, i:i + stride[0] * (oh - 1) + 1:stride[0],
                             j:j + stride[1] * (ow - 1) + 1:stride[1]]
                    acc = acc + tap[:, None] * w[None, g * mg:(g + 1) * mg, ci, i, j, None, None]
        out[:, g * mg:(g + 1) * mg] = acc
    return out


def li_step(v, x, dt, tau, r, v_leak):
    a = F32(dt) / tau
    return v + a * ((v_leak - v) + (r * x))


def fire(v, v1, thr, v_reset, reset):
    if reset == "subtract":
        v_next = v1 - np.where(v > thr, thr, F32(0)).astype(F32)
        return (v_next > thr).astype(F32), v_next
    z = v1 > thr
    return z.astype(F32), np.where(z, v_reset, v1).astype(F32)


# --- simulation ---------------------------------------------------------------------------------------------

def simulate(path, x_steps, dt, reset="zero"):
    """x_steps: [T, N, ...] float32. Returns ({output: [T, N, ...]}, {output: membrane [T, N, ...]},
    {spiking neuron: its spikes [T, N, ...]})."""
    nodes, pred, delayed, order, roots = load(path)
    assert len(roots) == 1
    steps, batch = x_steps.shape[0], x_steps.shape[1]
    state, prev_out = {}, {}
    outputs = {n: [] for n in nodes if nodes[n]["type"] == "Output" and not nodes[n]["passthrough"]}
    hidden = {n: [] for n in nodes if nodes[n]["type"] in ("LIF", "IF", "CubaLIF", "Threshold")}
    membranes = {n: [] for n in outputs}
    feeds = {}  # output -> the neuron whose v is recorded
    for n in outputs:
        u = pred[n][0]
        while nodes[u]["type"] in ("Input", "Output") and nodes[u]["passthrough"]:
            u = pred[u][0]
        feeds[n] = u
    for t in range(steps):
        out = {}
        for u in order:
            node = nodes[u]
            kind = node["type"]
            if kind == "Input" and not node["passthrough"]:
                out[u] = x_steps[t].astype(F32)
                continue
            terms = []
            for s in pred[u]:
                if (s, u) in delayed:
                    terms.append(prev_out.get(s))
                else:
                    terms.append(out[s])
            shape = next(term.shape for term in terms if term is not None)
            x = None
            for term in terms:
                term = np.zeros(shape, dtype=F32) if term is None else term
                x = term if x is None else x + term
            if kind in ("Input", "Output"):
                out[u] = x
            elif kind in ("Affine", "Linear"):
                out[u] = affine(x, param(node, "weight"), param(node, "bias") if kind == "Affine" else None)
            elif kind == "Scale":
                out[u] = x * param(node, "scale")
            elif kind in ("Conv2d",):
                w = param(node, "weight")
                stride = ints(node, "stride", 2, [1, 1])
                pad = ints(node, "padding", 2, [0, 0])
                groups = int(np.asarray(node["fields"].get("groups", 1)))
                y = window_sum(x, w, stride, [pad[0], pad[1], pad[0], pad[1]], groups)
                if "bias" in node["fields"]:
                    y = y + np.broadcast_to(param(node, "bias"), (w.shape[0],))[None, :, None, None]
                out[u] = y
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = ints(node, "kernel_size", 2, None)
                stride = ints(node, "stride", 2, k)
                pad = ints(node, "padding", 2, [0, 0])
                ones = np.ones((x.shape[1], 1, k[0], k[1]), dtype=F32)
                y = window_sum(x, ones, stride, [pad[0], pad[1], pad[0], pad[1]], x.shape[1])
                out[u] = y if kind == "SumPool2d" else y / F32(k[0] * k[1])
            elif kind == "Flatten":
                fr = x.ndim - 1
                s0 = int(node["fields"].get("start_dim", 0))
                e0 = int(node["fields"].get("end_dim", -1))
                s0, e0 = (s0 + fr if s0 < 0 else s0), (e0 + fr if e0 < 0 else e0)
                feat = list(x.shape[1:])
                out[u] = x.reshape([batch] + feat[:s0] + [int(np.prod(feat[s0:e0 + 1]))] + feat[e0 + 1:])
            elif kind in ("LIF", "IF", "CubaLIF", "LI", "CubaLI", "I"):
                feat = x.shape[1:]

                def p(name, default=None):
                    return np.broadcast_to(param(node, name, default).reshape(-1) if param(node, name, default).size > 1
                                           else param(node, name, default).reshape(()), (int(np.prod(feat)),)
                                           ).reshape(feat)[None]
                v = state.get((u, "v"), np.zeros(x.shape, dtype=F32))
                if kind in ("CubaLIF", "CubaLI"):
                    i = state.get((u, "i"), np.zeros(x.shape, dtype=F32))
                    a_syn = F32(dt) / p("tau_syn")
                    i1 = i + a_syn * ((p("w_in", 1.0) * x) - i)
                    state[(u, "i")] = i1
                    v1 = li_step(v, i1, dt, p("tau_mem"), p("r"), p("v_leak"))
                elif kind in ("LIF", "LI"):
                    v1 = li_step(v, x, dt, p("tau"), p("r"), p("v_leak"))
                else:
                    v1 = v + F32(dt) * (p("r") * x)
                if kind in ("LIF", "IF", "CubaLIF"):
                    z, v_next = fire(v, v1, p("v_threshold"), p("v_reset", 0.0), reset)
                    state[(u, "v")] = v_next
                    out[u] = z
                else:
                    state[(u, "v")] = v1
                    out[u] = v1
            elif kind == "Threshold":
                out[u] = (x > param(node, "threshold")).astype(F32)
            else:
                raise ValueError("unsupported node type " + kind)
        for n in hidden:
            hidden[n].append(out[n])
        for n in outputs:
            outputs[n].append(out[n])
            membranes[n].append(state.get((feeds[n], "v")))
        prev_out = out
    return ({n: np.stack(v).astype(F32) for n, v in outputs.items()},
            {n: np.stack(v).astype(F32) for n, v in membranes.items() if v[0] is not None},
            {n: np.stack(v).astype(F32) for n, v in hidden.items()})


# --- the committed cases ------------------------------------------------------------------------------------

FIXTURES = os.path.join(DATA)

CASES = [
    # name, file, dt, reset, input maker (seeded; None: the case without "_subtract"'s input), what to keep,
    # hidden spiking neurons whose spike trains are kept too
    ("lif_norse", "lif_norse.nir", 1e-3, "zero",
     lambda rng: rng.uniform(0.0, 0.4, size=(60, 3, 1)).astype(F32), ("spikes", "membrane"), ()),
    ("two_lif_neurons", "two_lif_neurons.nir", 1e-3, "zero",
     lambda rng: rng.uniform(0.0, 1.0, size=(120, 2, 1)).astype(F32), ("spikes", "membrane"), ("lif1",)),
    ("braille", "braille_noDelay_noBias_subtract.nir", 1e-4, "zero",
     lambda rng: (rng.uniform(size=(40, 4, 12)) < 0.3).astype(np.uint8), ("spikes", "membrane"), ("lif1.lif",)),
    ("braille_subtract", "braille_noDelay_noBias_subtract.nir", 1e-4, "subtract",
     None, ("spikes", "membrane"), ("lif1.lif",)),
    ("neuron_zoo", "synthetic/neuron_zoo.nir", 1e-3, "zero",
     lambda rng: rng.uniform(-0.5, 1.0, size=(50, 2, 3)).astype(F32), ("spikes", "membrane"), ("thr",)),
    ("cnn_sinabs", "cnn_sinabs.nir", 1.0, "zero",
     lambda rng: (rng.uniform(size=(12, 2, 2, 34, 34)) < 0.25).astype(np.uint8), ("counts",), ()),
]


# --- malformed files for the importer's error tests (nir.write's layout, written with h5py) -------------------

def write_graph(path, nodes, edges):
    """nodes: {name: {"type": str, field: array or str}}; edges: [(src, dst)]."""
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph", dtype=text)
        group = root.create_group("nodes")
        for name, fields in nodes.items():
            g = group.create_group(name)
            for key, value in fields.items():
                if isinstance(value, str):
                    g.create_dataset(key, data=value, dtype=text)
                else:
                    g.create_dataset(key, data=np.asarray(value), compression="gzip")
        root.create_dataset("edges", data=np.array(edges, dtype=object), dtype=text)
        f.create_dataset("version", data="0.2.0", dtype=text)


def lif(**extra):
    fields = {"type": "LIF", "tau": np.full(4, 0.01), "r": np.ones(4), "v_leak": np.zeros(4),
              "v_threshold": np.ones(4)}
    fields.update(extra)
    return fields


BAD = {
    "delay.nir": ({"input": {"type": "Input", "shape": [4]}, "d": {"type": "Delay", "delay": np.ones(4)},
                   "output": {"type": "Output", "shape": [4]}}, [("input", "d"), ("d", "output")]),
    "unknown_type.nir": ({"input": {"type": "Input", "shape": [4]}, "mystery": {"type": "Izhikevich"},
                          "output": {"type": "Output", "shape": [4]}}, [("input", "mystery"), ("mystery", "output")]),
    "missing_field.nir": ({"input": {"type": "Input", "shape": [4]},
                           "lif": {k: v for k, v in lif().items() if k != "tau"},
                           "output": {"type": "Output", "shape": [4]}}, [("input", "lif"), ("lif", "output")]),
    "bad_edge.nir": ({"input": {"type": "Input", "shape": [4]}, "lif": lif(),
                      "output": {"type": "Output", "shape": [4]}}, [("input", "lif"), ("ghost", "output")]),
    "shape_mismatch.nir": ({"input": {"type": "Input", "shape": [4]},
                            "fc": {"type": "Affine", "weight": np.ones((3, 5), np.float32), "bias": np.zeros(3)},
                            "output": {"type": "Output", "shape": [3]}}, [("input", "fc"), ("fc", "output")]),
    # A valid gzip-compressed file with a float64 Affine, a LIF, a Scale and a recurrent Linear: the gzip path.
    "gzip_recurrent.nir": ({"input": {"type": "Input", "shape": [4]},
                            "fc": {"type": "Affine", "weight": np.eye(4) * 0.5, "bias": np.full(4, 0.25)},
                            "lif": lif(), "rec": {"type": "Linear", "weight": np.full((4, 4), 0.125)},
                            "scale": {"type": "Scale", "scale": np.full(4, 2.0)},
                            "output": {"type": "Output", "shape": [4]}},
                           [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "scale"),
                            ("scale", "output")]),
    # A valid chain of the neuron types the exporters' fixtures lack: CubaLI -> I -> Threshold -> Scale -> LI.
    "neuron_zoo.nir": ({"input": {"type": "Input", "shape": [3]},
                        "fc": {"type": "Affine", "weight": np.array([[1.0, 0.5, -0.25], [0.25, 1.0, 0.5],
                                                                     [-0.5, 0.25, 1.0]]), "bias": np.full(3, 0.125)},
                        "cli": {"type": "CubaLI", "tau_syn": np.full(3, 2e-3), "tau_mem": np.full(3, 4e-3),
                                "r": np.full(3, 2.0), "v_leak": np.full(3, 0.1), "w_in": np.array([1.0, 1.5, 2.0])},
                        "int": {"type": "I", "r": np.array([1.0, 2.0, 3.0])},
                        "thr": {"type": "Threshold", "threshold": np.array([0.05, 0.1, 0.2])},
                        "scale": {"type": "Scale", "scale": np.array([1.0, -0.5, 2.0])},
                        "li": {"type": "LI", "tau": np.full(3, 5e-3), "r": np.ones(3), "v_leak": np.zeros(3)},
                        "output": {"type": "Output", "shape": [3]}},
                       [("input", "fc"), ("fc", "cli"), ("cli", "int"), ("int", "thr"), ("thr", "scale"),
                        ("scale", "li"), ("li", "output")]),
}


def write_synthetic_files():
    os.makedirs(os.path.join(DATA, "synthetic"), exist_ok=True)
    for name, (nodes, edges) in BAD.items():
        write_graph(os.path.join(DATA, "synthetic", name), nodes, edges)


def main():
    check = "--check" in sys.argv
    if not check:
        write_synthetic_files()
    failures = 0
    inputs = {}
    for name, file, dt, reset, make_input, keep, keep_hidden in CASES:
        rng = np.random.default_rng(sum(map(ord, name)))
        base = name.replace("_subtract", "")
        if make_input is None:
            x = inputs[base]
        else:
            x = make_input(rng)
            inputs[name] = x
        spikes, membranes, hidden = simulate(os.path.join(FIXTURES, file), x.astype(F32), dt, reset)
        (out_name, out), = spikes.items()
        results = {}
        if make_input is not None:
            results[name + "_input.npy"] = x
        if "spikes" in keep:
            results[name + "_spikes.npy"] = out
        if "membrane" in keep:
            results[name + "_membrane.npy"] = membranes[out_name]
        if "counts" in keep:
            results[name + "_counts.npy"] = out.sum(axis=0, dtype=F32)
        for h in keep_hidden:
            results["%s_%s_spikes.npy" % (name, h)] = hidden[h]
        print("%-18s dt=%-6g reset=%-8s T=%d N=%d output '%s' %s: %d spikes; %s" %
              (name, dt, reset, x.shape[0], x.shape[1], out_name, tuple(out.shape), out.sum(),
               ", ".join("%s %d spikes" % (h, hidden[h].sum()) for h in sorted(hidden))))
        if not any(arr.any() for fname, arr in results.items() if "spikes" in fname or "counts" in fname):
            print("  FAIL: no spike in what is kept; the case would test nothing")
            failures += 1
        for fname, arr in results.items():
            path = os.path.join(DATA, fname)
            if check:
                old = np.load(path)
                same = old.dtype == arr.dtype and old.shape == arr.shape and np.array_equal(old, arr)
                print("  %-28s %s" % (fname, "same" if same else "DIFFERS"))
                failures += 0 if same else 1
            else:
                np.save(path, arr)
                print("  wrote %-28s %s %s" % (fname, arr.dtype, arr.shape))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
