#!/usr/bin/env bash
# Sets up (installs Debian packages when missing) and builds vdm in ./build (Release).
# Extra arguments go to CMake's configure step, e.g. -DVDM_SANITIZE=ON.
# In CI (CI=true) compiler warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${VDM_BUILD_DIR:-build}
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVDM_WERROR=$werror "$@"
cmake --build "$build_dir" -j "$(nproc)"
