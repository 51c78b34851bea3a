#!/usr/bin/env bash
# Installs the Debian 12 packages faultline needs to build and test, if any is missing (run as root).
# Python packages (torch, onnx, h5py) are only needed to regenerate test data: scripts/install_data_deps.sh.
set -euo pipefail
packages=(cmake g++ make pkg-config libdnnl-dev ocl-icd-opencl-dev libprotobuf-dev protobuf-compiler libonnx-dev
          libhdf5-dev libyaml-cpp-dev libzip-dev libgtest-dev libgmock-dev libbenchmark-dev libonnx-testdata)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "faultline: missing packages (${missing[*]}); run as root or install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
