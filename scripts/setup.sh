#!/usr/bin/env bash
# Installs every Debian 12 package vdm needs to build, test and run, on a fresh machine.
# Idempotent: when everything is already installed it only checks, and changes nothing.
# Run as root (or through sudo). Used by the README's commands and by .ci/run.
# Usage: scripts/setup.sh [--sanitizers]
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ccache
  # tensors: Debian's LibTorch (1.13, CPU). OpenBLAS (OpenMP build) replaces the
  # reference BLAS, which makes float32 matrix products ~34x slower (5.8 vs 197 GFLOP/s).
  libtorch-dev libopenblas0-openmp libopenblas-openmp-dev
  # oneDNN's headers (LibTorch already runs on its library): Winograd convolutions on the CPU
  libdnnl-dev
  # SLEEF's headers (LibTorch already runs on libsleef3): the AVX-512 softmax of CPU attention
  libsleef-dev
  # tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # video I/O through FFmpeg's libraries
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavfilter-dev
  # CLI, logging, JSON
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
)
# --sanitizers: also clang and its runtimes (AddressSanitizer, UBSan, libFuzzer), for
# scripts/sanitize.sh and scripts/fuzz.sh. Not needed to build, run or test vdm.
if [ "${1:-}" = "--sanitizers" ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian registers BLAS implementations as alternatives; make sure the OpenMP OpenBLAS
# wins over the reference BLAS that libtorch pulls in.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in "libblas.so.3-$arch" "liblapack.so.3-$arch"; do
  best=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-openmp | head -n1 || true)
  cur=$(readlink -f "/etc/alternatives/$alt" 2>/dev/null || true)
  if [ -n "$best" ] && [ "$(readlink -f "$best")" != "$cur" ]; then
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO update-alternatives --set "$alt" "$best" >/dev/null
    echo "setup: $alt -> $best"
  fi
done
