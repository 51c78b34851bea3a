#!/usr/bin/env bash
# Debian packages for regenerating the committed test data and running the peer benchmark (use /usr/bin/python3).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-torch python3-torchvision python3-onnx python3-h5py python3-numpy >/dev/null
