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
#   2. faultline bench on that ONNX file (like with like), then on tests/data/models/resnet20.onnx (akamaster's
#      pretrained option-A ResNet20, BN folded: Slice+Pad shortcuts instead of 1x1 convs, 0.26 M fewer MACs);
#   3. peer_campaign.py --faults 0 --fold-bn --skip <every campaign>: clean inference only, on the same network
#      with BN folded (eager NCHW, eager channels_last, frozen TorchScript; it also times batch 1, ~10 s);
#   4. step 2 again, so that a change of machine load during the run shows as a gap between the two.
# The table's ratio column is images/s divided by the peer's frozen-TorchScript images/s from this same run.
# Compare ratios, not absolute figures across runs. other-cpu is how many cores other processes used meanwhile
# (from /proc/stat, as the peer measures it): on a shared 2-core machine a 2-thread run with other-cpu above 0.1
# is skewed (an OpenMP barrier waits for a descheduled thread), so discard such runs.
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
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) peer_dir="$1"; shift ;;
  esac
done

[[ "$images" =~ ^[0-9]+$ && "$images" -gt 0 && $((images % batch)) -eq 0 ]] \
  || die "--images must be a positive multiple of the batch size $batch, got '$images'"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer, got '$reps'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
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
[[ -n "$tmp" && -d "$tmp" ]] || die "cannot create a temporary folder"
if [[ $keep -eq 1 ]]; then echo "temporary files kept in $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# meter.py OUT.json OUT.txt COMMAND...: runs COMMAND (output to OUT.txt) and records its wall time, its own CPU
# time and how many cores other processes used meanwhile (/proc/stat busy time minus its own, over wall time).
cat > "$tmp/meter.py" <<'PY'
import json, os, subprocess, sys, time
def busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
out_json, out_txt, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
b0, t0 = busy_seconds(), time.perf_counter()
with open(out_txt, "w") as f:
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
wall, b1 = time.perf_counter() - t0, busy_seconds()
own = usage.ru_utime + usage.ru_stime
with open(out_json, "w") as f:
    json.dump(dict(wall=wall, own_cpu=own / wall, other_cpu=max(0.0, (b1 - b0 - own) / wall)), f)
sys.exit(os.waitstatus_to_exitcode(status))
PY

faultline_models=(peer_model "$tmp/peer_resnet20_B.onnx" resnet20 "$own_model")
run_faultline() {  # before | after
  local i name model
  for ((i = 0; i < ${#faultline_models[@]}; i += 2)); do
    name="faultline_${faultline_models[i]}_$1"
    model="${faultline_models[i + 1]}"
    "$python" "$tmp/meter.py" "$tmp/$name.json" "$tmp/$name.txt" "$faultline_bin" bench "$model" --backend onednn \
      --batch "$batch" --images "$images" --repeat "$reps" --threads "$threads" \
      || { cat "$tmp/$name.txt" >&2; die "faultline bench $model failed"; }
    grep -E '^(model|images/s)' "$tmp/$name.txt" | sed 's/^/   /'
  done
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1/4 exporting the peer's model (shortcut B, BN folded) to ONNX"
"$python" -W ignore "$peer_dir/model.py" --shortcut B --onnx "$tmp/peer_resnet20_B.onnx" | sed 's/^/   /'

echo "== 2/4 faultline bench (onednn, $threads threads, batch $batch, $images images x $reps runs)"
run_faultline before

echo "== 3/4 peer clean inference (PyTorch, $threads threads, batch $batch, $images images x $reps runs)"
"$python" -W ignore "$peer_dir/peer_campaign.py" --faults 0 --images "$batch" --batch "$batch" \
  --clean-images "$images" --reps "$reps" --threads "$threads" --shortcut B --fold-bn \
  --skip native_weight,native_neuron,pfi_weight,pfi_neuron --json "$tmp/peer.json" > "$tmp/peer.txt" \
  || { cat "$tmp/peer.txt" >&2; die "peer_campaign.py failed"; }
sed 's/^/   /' "$tmp/peer.txt"

echo "== 4/4 faultline bench again (a change of machine load during the run shows as a gap to step 2)"
run_faultline after
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$tmp" "$threads" "$batch" "$load_start" "$load_end" <<'PY'
import json, re, sys
tmp, threads, batch, load_start, load_end = sys.argv[1:6]
peer = json.load(open(f"{tmp}/peer.json"))
clean = peer["clean"]

def faultline_run(name):
    text = open(f"{tmp}/{name}.txt").read()
    m = re.search(r"images/s\s+([0-9.]+) best, ([0-9.]+) median", text)
    if not m:
        sys.exit(f"peer_compare.sh: no 'images/s' line in the output of faultline bench ({name})")
    meter = json.load(open(f"{tmp}/{name}.json"))
    return float(m.group(1)), float(m.group(2)), meter["other_cpu"]

ts = clean.get("torchscript_frozen", {}).get("best_ips")
rows, others = [], []
for key, label in (("eager_nchw", "PyTorch eager NCHW"), ("eager_channels_last", "PyTorch eager channels_last"),
                   ("torchscript_frozen", "PyTorch TorchScript frozen")):
    v = clean.get(key, {})
    if "best_ips" in v:
        others += [o for o in v.get("other_cpu", []) if o is not None]
        other = ",".join("-" if o is None else f"{o:.2f}" for o in v.get("other_cpu", []))
        rows.append((label, "peer ResNet20-B (BN folded)", v["best_ips"], v["median_ips"], other))
    else:
        rows.append((label, "peer ResNet20-B (BN folded)", None, None, str(v.get("error", "not measured"))))
for name, model in (("peer_model", "peer ResNet20-B (same ONNX)"), ("resnet20", "akamaster ResNet20-A")):
    for when in ("before", "after"):
        best, median, other = faultline_run(f"faultline_{name}_{when}")
        others.append(other)
        rows.append((f"faultline onednn ({when})", model, best, median, f"{other:.2f} (whole run)"))

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
if others and max(others) > 0.1:
    print(f"WARNING: other processes used up to {max(others):.2f} cores during these runs (above 0.1); with "
          f"{threads} threads on a shared machine the figures are skewed: run again when the machine is quiet")
PY
