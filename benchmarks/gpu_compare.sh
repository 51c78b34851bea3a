#!/usr/bin/env bash
# The GPU session's one command: build faultline with CUDA, run the GPU tests, then time faultline's cuda backend
# against PyTorch on the same GPU in one run (issue #6), writing every figure into one results folder.
#
#   benchmarks/gpu_compare.sh [--out DIR] [--build DIR] [--python PY] [--skip-build] [--skip-tests]
#                             [--parts LIST] [--faults N] [--work DIR] [--dry-run]
#
# --out         results folder (default $OUT when set, else results/gpu_compare-DATE); files, all flat:
#                 env.txt            nvidia-smi, nvcc, cmake, compiler, Python and torch versions, the source tree
#                 build.log          configure + build output
#                 ctest_cuda.log     `ctest -L cuda` output
#                 run.log            the benchmark's output (its table at the end)
#                 gpu_compare.json   every figure, the settings, versions and commands
#                 gpu_compare.md     the tables and the commands
#                 injection_overhead.txt  build/benchmarks/bench_injection_overhead --backends cuda --batch 1000:
#                                    what the fault hooks cost per batch on ResNet20 (issue #7)
# --build       build folder (default build-gpu; configured Release, FAULTLINE_CUDA=ON, only the targets needed:
#               faultline, bench_injection_overhead and the tests of tests/cuda, for the GPU's own architecture)
# --python      interpreter with torch (default: python3 when it imports torch, else /usr/bin/python3)
# --skip-build  use the faultline of --build as it is;  --skip-tests  no ctest
# --parts       resnet50,resnet20,campaign (default all; see benchmarks/gpu_compare.py)
# --faults      faults of the campaign (default 1,000, over 1,000 images)
# --work        keep the exported models, images, fault list, YAML and faultline's logs here (default: removed)
# --dry-run     no GPU needed: skips the GPU checks, keeps the build folder's CUDA architectures, and runs every
#               benchmark step on the CPU with tiny sizes and faultline's onednn backend (exports, fault list,
#               YAML, parsing, tables): the plumbing, not speed
#
# Stops with one line and a non-zero status when nvcc, cuDNN, a GPU or torch.cuda is missing, or when a step
# fails (the line names the log). Failed GPU tests do not stop the benchmark; they make the exit status 2.
# On the device machine (no network): build dependencies that its image lacks travel as Debian packages,
# made here by benchmarks/gpu_deps.sh into build-gpu-deps/ (carried: run's carry ["build-gpu-deps"]); when that
# folder holds .deb files they are unpacked into the build folder and CMake looks there first.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-}"
build_dir="$repo_root/build-gpu"
python=""
skip_build=0
skip_tests=0
dry_run=0
parts="resnet50,resnet20,campaign"
faults=""
work=""
deps_dir="$repo_root/build-gpu-deps"
invocation="benchmarks/gpu_compare.sh $*"

die() { echo "gpu_compare.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --build) build_dir="${2:?--build needs a value}"; shift 2 ;;
    --python) python="${2:?--python needs a value}"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --skip-tests) skip_tests=1; shift ;;
    --parts) parts="${2:?--parts needs a value}"; shift 2 ;;
    --faults) faults="${2:?--faults needs a value}"; shift 2 ;;
    --work) work="${2:?--work needs a value}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -z "$faults" || "$faults" =~ ^[1-9][0-9]*$ ]] || die "--faults must be a positive integer, got '$faults'"
[[ -n "$out" ]] || out="$repo_root/results/gpu_compare-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out" || die "cannot create the results folder '$out'"
out="$(cd "$out" && pwd)"
mkdir -p "$build_dir" || die "cannot create the build folder '$build_dir'"
build_dir="$(cd "$build_dir" && pwd)"
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }

# --- what the run needs ----------------------------------------------------------------------------------
if [[ -z "$python" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import torch' 2>/dev/null; then python="$candidate"; break; fi
  done
  [[ -n "$python" ]] || die "no Python with torch (tried python3 and /usr/bin/python3; pass --python)"
fi
"$python" -c 'import torch, numpy' 2>/dev/null || die "$python cannot import torch and numpy"
nvcc="${CUDACXX:-}"
[[ -n "$nvcc" ]] || nvcc="$(command -v nvcc || true)"
[[ -n "$nvcc" || ! -x /usr/local/cuda/bin/nvcc ]] || nvcc=/usr/local/cuda/bin/nvcc
[[ -n "$nvcc" ]] || die "no nvcc (not on PATH, no /usr/local/cuda/bin/nvcc, CUDACXX unset): the CUDA backend cannot be built"
cuda_arch=""
if [[ $dry_run -eq 0 ]]; then
  command -v nvidia-smi >/dev/null || die "no GPU: nvidia-smi is not installed"
  gpus="$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>&1)" \
    || die "no GPU: nvidia-smi failed: $(echo "$gpus" | head -1)"
  [[ -n "$gpus" ]] || die "no GPU: nvidia-smi lists no device"
  cuda_arch="$(echo "$gpus" | head -1 | awk -F', *' '{gsub(/\./, "", $2); print $2}')"
  torch_cuda="$("$python" -c 'import torch; print(torch.cuda.is_available())' 2>&1 | tail -1)"
  [[ "$torch_cuda" == "True" ]] || die "torch.cuda is not available in $python (torch.cuda.is_available(): $torch_cuda)"
fi

# cuDNN: next to CUDA (/usr/local/cuda, the system), else the nvidia-cudnn wheel that PyTorch uses.
cmake_args=()
build_env=()
cudnn_lib=""
for d in "$(dirname "$(dirname "$nvcc")")/lib64" /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
  if [[ -e "$d/libcudnn.so" ]]; then cudnn_lib="$d/libcudnn.so"; break; fi
done
if [[ -z "$cudnn_lib" ]]; then
  wheel="$("$python" -c 'import nvidia.cudnn as c; print(list(c.__path__)[0])' 2>/dev/null || true)"
  lib="$(ls "$wheel"/lib/libcudnn.so* 2>/dev/null | head -1 || true)"
  [[ -n "$lib" && -f "$wheel/include/cudnn.h" ]] \
    || die "no cuDNN: no libcudnn.so next to CUDA or in /usr/lib, and no nvidia-cudnn wheel for $python"
  cudnn_lib="$lib"
  cmake_args+=("-DCMAKE_CXX_FLAGS=-isystem $wheel/include" "-DCMAKE_CUDA_FLAGS=-isystem $wheel/include")
  export LD_LIBRARY_PATH="$wheel/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cmake_args+=("-DFAULTLINE_CUDNN_LIBRARY=$cudnn_lib")
# (a changed CMAKE_CUDA_COMPILER makes CMake wipe an existing cache: named only for a new build folder)
[[ -f "$build_dir/CMakeCache.txt" ]] || cmake_args+=("-DCMAKE_CUDA_COMPILER=$nvcc")

# Carried Debian packages (benchmarks/gpu_deps.sh): unpacked into the build folder, searched first.
if compgen -G "$deps_dir/*.deb" >/dev/null; then
  prefix="$build_dir/deps"
  if [[ ! -f "$prefix/.unpacked" ]]; then
    step "unpacking $(ls "$deps_dir"/*.deb | wc -l) carried packages into $prefix"
    rm -rf "$prefix" && mkdir -p "$prefix"
    for deb in "$deps_dir"/*.deb; do dpkg-deb -x "$deb" "$prefix" || die "cannot unpack $deb (dpkg-deb)"; done
    touch "$prefix/.unpacked"
  fi
  multiarch="$prefix/usr/lib/x86_64-linux-gnu"
  # CMake and the unpacked pkgconf run with the libraries' folder; the executables find it through their RPATH
  # (DT_RPATH, which also serves the libraries' own dependencies), so nothing else sees these libraries.
  build_env=(env "PATH=$prefix/usr/bin:$PATH" "LD_LIBRARY_PATH=$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
             "PKG_CONFIG_PATH=$multiarch/pkgconfig:$prefix/usr/share/pkgconfig"
             "PKG_CONFIG_LIBDIR=$multiarch/pkgconfig:$prefix/usr/share/pkgconfig" "PKG_CONFIG_SYSROOT_DIR=$prefix")
  # (FindHDF5 without Debian's h5cc wrapper searches HDF5_ROOT only: named outright)
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr;$multiarch/cmake" "-DHDF5_ROOT=$multiarch"
               "-DHDF5_C_INCLUDE_DIR=$prefix/usr/include/hdf5/serial"
               "-DHDF5_hdf5_LIBRARY_RELEASE=$multiarch/hdf5/serial/libhdf5.so"
               "-DPKG_CONFIG_EXECUTABLE=$prefix/usr/bin/pkgconf"
               "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath,$multiarch")
fi

# --- environment ------------------------------------------------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "command: $invocation"
  echo "--- nvidia-smi"; nvidia-smi 2>&1 || echo "(no nvidia-smi)"
  echo "--- nvcc"; "$nvcc" --version 2>&1 | tail -2
  echo "--- cuDNN library: $cudnn_lib"
  echo "--- cmake"; cmake --version 2>&1 | head -1
  echo "--- c++"; c++ --version 2>&1 | head -1
  echo "--- python: $python"; "$python" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1
  "$python" -c 'import torchvision; print("torchvision", torchvision.__version__)' 2>/dev/null || echo "torchvision: not installed"
  echo "--- source tree"
  git -C "$repo_root" rev-parse HEAD 2>/dev/null || echo "(not a git checkout)"
  git -C "$repo_root" status --short 2>/dev/null | head -50 || true
  echo "--- cpu"; grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true; nproc
} > "$out/env.txt"

# --- build ------------------------------------------------------------------------------------------------
faultline="$build_dir/faultline"
cuda_tests=()
for t in "$repo_root"/tests/cuda/test_*.cpp; do cuda_tests+=("$(basename "$t" .cpp)"); done
if [[ $skip_build -eq 0 ]]; then
  step "configuring $build_dir (Release, FAULTLINE_CUDA=ON${cuda_arch:+, sm_$cuda_arch})"
  generator=()
  [[ -f "$build_dir/CMakeCache.txt" ]] || ! command -v ninja >/dev/null || generator=(-G Ninja)
  [[ -z "$cuda_arch" ]] || cmake_args+=("-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch")
  : > "$out/build.log"
  "${build_env[@]}" cmake -S "$repo_root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFAULTLINE_CUDA=ON \
      -DFAULTLINE_TESTS=ON -DFAULTLINE_BENCHMARKS=ON "${cmake_args[@]}" >>"$out/build.log" 2>&1 \
    || die "configure failed: $(grep -m1 -A2 'CMake Error' "$out/build.log" | tr -s ' \n' ' ' | cut -c1-300) (full log: $out/build.log; missing libraries: see benchmarks/gpu_deps.sh)"
  step "building faultline bench_injection_overhead ${cuda_tests[*]} (-j$(nproc))"
  "${build_env[@]}" cmake --build "$build_dir" -j"$(nproc)" --target faultline bench_injection_overhead "${cuda_tests[@]}" \
      >>"$out/build.log" 2>&1 \
    || die "build failed: $(grep -m1 -E 'error|Error' "$out/build.log" | cut -c1-300) (full log: $out/build.log)"
fi
[[ -x "$faultline" ]] || die "no faultline command at '$faultline' (build it, or drop --skip-build)"

# --- GPU tests ----------------------------------------------------------------------------------------------
tests_failed=0
if [[ $skip_tests -eq 0 ]]; then
  step "ctest -L cuda"
  if ctest --test-dir "$build_dir" -L cuda --output-on-failure --timeout 150 -j1 >"$out/ctest_cuda.log" 2>&1; then
    echo "   $(grep -E 'tests passed|tests failed' "$out/ctest_cuda.log" | tail -1)"
  else
    tests_failed=1
    echo "   GPU TESTS FAILED: $(grep -E 'tests passed|tests failed' "$out/ctest_cuda.log" | tail -1) (see $out/ctest_cuda.log)"
  fi
  skipped="$(grep -c -i 'skipped' "$out/ctest_cuda.log" || true)"
  [[ "$skipped" -eq 0 ]] || echo "   $skipped lines say 'skipped', e.g.: $(grep -m1 -i 'skip' "$out/ctest_cuda.log" | cut -c1-200)"
fi

# --- benchmarks -----------------------------------------------------------------------------------------
step "benchmarks (benchmarks/gpu_compare.py)"
py_args=(--faultline "$faultline" --out "$out" --parts "$parts")
[[ $dry_run -eq 0 ]] || py_args+=(--dry-run)
[[ -z "$faults" ]] || py_args+=(--faults "$faults")
[[ -z "$work" ]] || py_args+=(--work "$work")
set +e
PYTHONUNBUFFERED=1 "$python" -W ignore "$repo_root/benchmarks/gpu_compare.py" "${py_args[@]}" 2>&1 | tee "$out/run.log"
status=${PIPESTATUS[0]}
set -e
[[ $status -eq 0 ]] || die "the benchmark failed: $(grep -m1 'gpu_compare.py:' "$out/run.log" || tail -1 "$out/run.log") (see $out/run.log)"

# --- injection overhead (issue #7): clean, hooks armed with no fault, one weight / activation fault -------
overhead="$build_dir/benchmarks/bench_injection_overhead"
if [[ -x "$overhead" ]]; then
  overhead_args=(--backends cuda --batch 1000)
  [[ $dry_run -eq 0 ]] || overhead_args=(--backends onednn --batch 10 --rounds 1 --iterations 1)
  step "injection overhead: bench_injection_overhead ${overhead_args[*]}"
  "$overhead" "$repo_root/tests/data/models/resnet20.onnx" "${overhead_args[@]}" >"$out/injection_overhead.txt" 2>&1 \
    || echo "   bench_injection_overhead failed: $(tail -1 "$out/injection_overhead.txt")"
  sed -n '/^backend /,$p' "$out/injection_overhead.txt"
fi
step "done: results in $out"
[[ $tests_failed -eq 0 ]] || { echo "gpu_compare.sh: benchmarks done, but GPU tests failed (see $out/ctest_cuda.log)" >&2; exit 2; }
