#!/usr/bin/env bash
# Downloads, on a development machine (Debian 12, with network), the Debian packages that faultline's build needs
# besides CUDA, CMake and a C++ compiler, into build-gpu-deps/ (ignored by git: /build*/), for the device machine,
# whose image has nvcc, cuDNN, CMake and PyTorch but maybe not oneDNN, ONNX, protobuf, HDF5, yaml-cpp, libzip,
# GoogleTest or pkg-config, and which cannot download anything.
#
#   benchmarks/gpu_deps.sh            # about 15 MiB of .deb files
#
# Then carry the folder with the device tool's run: carry ["build-gpu-deps"]. benchmarks/gpu_compare.sh unpacks
# them (dpkg-deb -x, never into /) under its build folder and points CMake and pkg-config there, with the
# libraries' folder as the executables' RPATH. Nothing is installed on either machine.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/build-gpu-deps"

# Headers and CMake/pkg-config files (what scripts/install_deps.sh installs, less the compiler, CMake and the
# ONNX test data), then the shared libraries that faultline loads (`ldd faultline`, mapped with `dpkg -S`) less
# glibc, libstdc++ and libgcc, which every Linux image has in a newer version.
packages=(libdnnl-dev ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers libprotobuf-dev libonnx-dev
          libhdf5-dev libyaml-cpp-dev libzip-dev libgtest-dev pkgconf pkgconf-bin libpkgconf3 zlib1g-dev libbz2-dev
          libdnnl2 ocl-icd-libopencl1 libprotobuf32 libprotobuf-lite32 libonnx1 libonnxifi libhdf5-103-1 libsz2 libaec0
          libyaml-cpp0.7 libzip4 libgomp1 libcurl4 libbrotli1 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0
          libk5crypto3 libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 libnghttp2-14 libp11-kit0 libpsl5
          librtmp1 libsasl2-2 libssh2-1 libssl3 libtasn1-6 libunistring2 libzstd1 libffi8 libgmp10 libkeyutils1
          libcom-err2)

command -v apt-get >/dev/null || { echo "gpu_deps.sh: needs apt-get (a Debian 12 machine like the CI's)" >&2; exit 1; }
mkdir -p "$dest"
rm -f "$dest"/*.deb
cd "$dest"
apt-get download "${packages[@]}" >/dev/null \
  || { echo "gpu_deps.sh: apt-get download failed (run 'apt-get update' first?)" >&2; exit 1; }
echo "$(ls "$dest"/*.deb | wc -l) packages, $(du -sh "$dest" | cut -f1) in $dest"
echo "carry it to the device machine: run(command=..., carry=[\"build-gpu-deps\"])"
