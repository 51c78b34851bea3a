#!/usr/bin/env bash
# Incremental spiking campaigns against full passes (faults/spiking_replay.h, `faultline run --full-passes`):
# the same experiment, the same build, alternated, with the wall time of each run and the load average.
#
#   benchmarks/spiking_campaign_compare.sh [--list example|mixed] [--reps R] [--digits N] [--build DIR] [--keep]
#
# --list    example: examples/spiking_mnist_campaign.yaml's 80 faults (mostly permanent threshold faults);
#           mixed (default): 400 faults on the same network, made deterministically by `faultline faults
#           generate` and numbered here:
#             - 200 membrane upsets (bit flips of bits 20-31 of lif1.potential / lif2.potential) at one time
#               step, (7 * i) mod 25; every fourth one on one digit (Batch (37 * i) mod N);
#             - 100 spikes forced to 1 (lif1 / lif2, Model value 1) over three steps from (7 * i) mod 23;
#             - 100 permanent bit flips (bits 20-31) of fc1 / fc2 weights and biases and the thresholds.
# --reps    runs of each mode, alternated incremental / full (default 3)
# --digits  dataset.limit, digits of the held-out set (default 500, as the example; batch 100, threads 1)
# --build   the build folder holding `faultline` (default build)
# --keep    keep the temporary folder and print its path
# Prints one line per run (mode, seconds, load average before / after, the replay's step summary) and checks
# that every run wrote the same summary.csv and spiking.csv.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list=mixed
reps=3
digits=500
build="$repo_root/build"
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --list) list="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --digits) digits="$2"; shift 2 ;;
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "spiking_campaign_compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
faultline="$build/faultline"
[[ -x "$faultline" ]] || { echo "spiking_campaign_compare.sh: no $faultline (build it first)" >&2; exit 2; }
work="$(mktemp -d)"
[[ $keep -eq 1 ]] || trap 'rm -rf "$work"' EXIT
examples="$repo_root/examples"
model="$examples/data/spiking_mnist.nir"

if [[ "$list" == example ]]; then
  cp "$examples/spiking_mnist_faults.csv" "$work/faults.csv"
elif [[ "$list" == mixed ]]; then
  "$faultline" faults generate "$model" --target activation --layers '*.potential' --bits 20-31 --count 200 \
    --seed 1 -o "$work/states.csv" > /dev/null
  "$faultline" faults generate "$model" --target activation --layers lif1,lif2 --model value --value 1 \
    --count 100 --seed 2 -o "$work/spikes.csv" > /dev/null
  "$faultline" faults generate "$model" --all-parameters --layers 'fc1,fc2,lif*.threshold' --bits 20-31 \
    --count 100 --seed 3 -o "$work/params.csv" > /dev/null
  # Split each row at its quoted TensorIndex: $1 = "Injection,Layer,", $2 = the index, $3 = ",Bit,..." columns.
  {
    echo "Injection,Layer,Target,TensorIndex,Bit,Model,Value,Step,Batch"
    awk -F'"' -v n="$digits" 'NR > 1 { split($1, a, ","); split($3, b, ","); i = a[1];
      printf "%d,%s,activation,\"%s\",%s,bitflip,,%d,%s\n", i, a[2], $2, b[2], (7 * i) % 25,
             (i % 4 == 0) ? (37 * i) % n : "" }' "$work/states.csv"
    awk -F'"' 'NR > 1 { split($1, a, ","); i = a[1]; s = (7 * i) % 23;
      printf "%d,%s,activation,\"%s\",,value,1,%d-%d,\n", 200 + i, a[2], $2, s, s + 2 }' "$work/spikes.csv"
    awk -F'"' 'NR > 1 { split($1, a, ","); split($3, b, ",");
      printf "%d,%s,weight,\"%s\",%s,bitflip,,,\n", 300 + a[1], a[2], $2, b[2] }' "$work/params.csv"
  } > "$work/faults.csv"
else
  echo "spiking_campaign_compare.sh: --list is example or mixed, got '$list'" >&2; exit 2
fi

yaml() {  # the example experiment with absolute paths, the list, the digit limit and output folder $1
  sed -e "s#^model: .*#model: $model#" -e "s#inputs: data/#inputs: $examples/data/#" \
      -e "s#list: .*#list: $work/faults.csv#" -e "s#limit: [0-9]*#limit: $digits#" -e "s#^output: .*#output: $1#" \
      "$examples/spiking_mnist_campaign.yaml"
}

echo "faults: $(($(wc -l < "$work/faults.csv") - 1)) ($list), digits: $digits, build: $build"
for rep in $(seq 1 "$reps"); do
  for mode in incremental full; do
    out="$work/out-$mode-$rep"
    yaml "$out" > "$work/$mode-$rep.yaml"
    flags=""
    [[ $mode == full ]] && flags="--full-passes"
    load_before="$(cut -d' ' -f1 /proc/loadavg)"
    start=$(date +%s.%N)
    "$faultline" run "$work/$mode-$rep.yaml" $flags > "$work/$mode-$rep.log" 2>&1 || { cat "$work/$mode-$rep.log" >&2; exit 1; }
    end=$(date +%s.%N)
    load_after="$(cut -d' ' -f1 /proc/loadavg)"
    printf "%-11s run %d: %6.2f s  load %s -> %s  %s\n" "$mode" "$rep" "$(echo "$end - $start" | bc)" \
      "$load_before" "$load_after" "$(grep -h '^incremental passes' "$work/$mode-$rep.log" || true)"
    for file in summary.csv spiking.csv; do
      cmp -s "$out/$file" "$work/out-incremental-1/$file" ||
        { echo "spiking_campaign_compare.sh: $out/$file differs from the first run's" >&2; exit 1; }
    done
  done
done
echo "summary.csv and spiking.csv identical in every run"
[[ $keep -eq 0 ]] || echo "kept: $work"
