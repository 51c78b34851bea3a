#!/usr/bin/env bash
# Clean-inference throughput of faultline and of the PyTorch peer baseline, side by side in one run on the same
# machine (the figures of the README's performance section).
#
#   benchmarks/peer_compare.sh [PEER_DIR] [--images N] [--reps R] [--threads T] [--build DIR] [--keep]
#
# PEER_DIR   the peer harness (model.py, peer_campaign.py); default ../shared/bench/peer next to the repository
# --images   images per timed run, both engines (default 1000; a multiple of the batch, 100)
# --reps     timed runs per engine; the best and the median are reported (default 3)
# --threads  threads for both engines (default 2)
# --build    faultline build folder holding the `faultline` command (default build)
# --keep     keep the temporary folder (exported ONNX, peer JSON, raw outputs) and print its path
#
# What runs, in this order, with the same batch (100) and thread count:
#   1. the peer's model exported to ONNX: model.py --onnx (shortcut B, random init, BN folded: exactly the
#      network that peer_campaign.py times), into a temporary folder;
#   2. peer_campaign.py --faults 0 --fold-bn --skip <every campaign>: clean inference only, on the same network
#      with BN folded (eager NCHW, eager channels_last, frozen TorchScript);
#   3. faultline bench on that ONNX file (like with like), then on tests/data/models/resnet20.onnx (akamaster's
#      pretrained option-A ResNet20, BN folded: Slice+Pad shortcuts instead of 1x1 convs, 2.6 k fewer MACs).
# The table's ratio column is images/s divided by the peer's frozen-TorchScript images/s from this same run.
# Compare ratios, not absolute figures across runs; the peer's other-cpu column says how busy the machine was
# with other processes during its runs (discard runs above 0.1).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer_dir="$repo_root/../shared/bench/peer"
images=1000
reps=3
threads=2
build_dir="$repo_root/build"
keep=0
batch=100
python=/usr/bin/python3

die() { echo "peer_compare.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --images) images="${2:?--images needs a value}"; shift 2 ;;
    --reps) reps="${2:?--reps needs a value}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
    --build) build_dir="${2:?--build needs a value}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) peer_dir="$1"; shift ;;
  esac
done

[[ "$images" =~ ^[0-9]+$ && "$images" -gt 0 && $((images % batch)) -eq 0 ]] \
  || die "--images must be a positive multiple of the batch size $batch, got '$images'"
[[ -d "$peer_dir" ]] || die "peer harness folder '$peer_dir' does not exist (pass its path as the first argument)"
for f in model.py peer_campaign.py; do
  [[ -f "$peer_dir/$f" ]] || die "'$peer_dir' is not the peer harness: it has no $f"
done
peer_dir="$(cd "$peer_dir" && pwd)"
[[ -x "$python" ]] || die "$python not found (the peer needs Debian's python3-torch)"
"$python" -c 'import torch' 2>/dev/null || die "$python cannot import torch (apt-get install python3-torch)"
faultline_bin="$build_dir/faultline"
[[ -x "$faultline_bin" ]] || die "'$faultline_bin' not found: build it first (cmake --build build --target faultline)"
own_model="$repo_root/tests/data/models/resnet20.onnx"
[[ -f "$own_model" ]] || die "'$own_model' not found (scripts/make_test_models.py writes it)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/peer_compare.XXXXXX")"
if [[ $keep -eq 1 ]]; then echo "temporary files kept in $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1/3 exporting the peer's model (shortcut B, BN folded) to ONNX"
"$python" -W ignore "$peer_dir/model.py" --shortcut B --onnx "$tmp/peer_resnet20_B.onnx" | sed 's/^/   /'

echo "== 2/3 peer clean inference (PyTorch, $threads threads, batch $batch, $images images x $reps runs)"
"$python" -W ignore "$peer_dir/peer_campaign.py" --faults 0 --images "$batch" --batch "$batch" \
  --clean-images "$images" --reps "$reps" --threads "$threads" --shortcut B --fold-bn \
  --skip native_weight,native_neuron,pfi_weight,pfi_neuron --json "$tmp/peer.json" > "$tmp/peer.txt" \
  || { cat "$tmp/peer.txt" >&2; die "peer_campaign.py failed"; }
sed 's/^/   /' "$tmp/peer.txt"

echo "== 3/3 faultline bench (onednn, $threads threads, batch $batch, $images images x $reps runs)"
run_faultline() {  # name model
  "$faultline_bin" bench "$2" --backend onednn --batch "$batch" --images "$images" --repeat "$reps" \
    --threads "$threads" > "$tmp/$1.txt" 2>&1 || { cat "$tmp/$1.txt" >&2; die "faultline bench $2 failed"; }
  sed 's/^/   /' "$tmp/$1.txt"
}
run_faultline faultline_peer_model "$tmp/peer_resnet20_B.onnx"
run_faultline faultline_resnet20 "$own_model"

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$tmp" "$threads" "$batch" "$load_start" "$load_end" <<'EOF'
import json, re, sys
tmp, threads, batch, load_start, load_end = sys.argv[1:6]
peer = json.load(open(f"{tmp}/peer.json"))
clean = peer["clean"]

def faultline_rates(name):
    text = open(f"{tmp}/{name}.txt").read()
    m = re.search(r"images/s\s+([0-9.]+) best, ([0-9.]+) median", text)
    if not m:
        sys.exit(f"peer_compare.sh: no 'images/s' line in the output of faultline bench ({name})")
    return float(m.group(1)), float(m.group(2))

ts = clean.get("torchscript_frozen", {}).get("best_ips")
rows = []
for key, label in (("eager_nchw", "PyTorch eager NCHW"), ("eager_channels_last", "PyTorch eager channels_last"),
                   ("torchscript_frozen", "PyTorch TorchScript frozen")):
    v = clean.get(key, {})
    if "best_ips" in v:
        other = ",".join("-" if o is None else f"{o:.2f}" for o in v.get("other_cpu", []))
        rows.append((label, "peer ResNet20-B (BN folded)", v["best_ips"], v["median_ips"], other))
    else:
        rows.append((label, "peer ResNet20-B (BN folded)", None, None, str(v.get("error", "not measured"))))
for name, label, model in (("faultline_peer_model", "faultline onednn", "peer ResNet20-B (same ONNX)"),
                           ("faultline_resnet20", "faultline onednn", "akamaster ResNet20-A")):
    best, median = faultline_rates(name)
    rows.append((label, model, best, median, ""))

env = peer["env"]
print()
print(f"clean inference, batch {batch}, {threads} threads; torch {env['torch']}, cpu {env['cpu']} x{env['cores']}")
print(f"{'engine':28s} {'model':30s} {'best img/s':>11s} {'median':>9s} {'vs TS frozen':>12s}  other-cpu")
for label, model, best, median, other in rows:
    if best is None:
        print(f"{label:28s} {model:30s} {'-':>11s} {'-':>9s} {'-':>12s}  {other}")
        continue
    ratio = f"{best / ts:.2f}x" if ts else "-"
    print(f"{label:28s} {model:30s} {best:11.1f} {median:9.1f} {ratio:>12s}  {other}")
print(f"load average (1/5/15 min): {load_start} at start, {load_end} at end")
if max(float(load_start.split()[0]), float(load_end.split()[0])) > 1.5 * int(threads):
    print("WARNING: the machine was busy with other work; these figures are not fit for the README")
EOF
