#!/usr/bin/env bash
# The sanitizer build (docs/reliability.md): clang with AddressSanitizer and
# UndefinedBehaviorSanitizer (every UB finding is an error), plus libFuzzer's coverage hooks, in
# build-san. Runs the whole test suite under it, then every fuzz target for a short smoke time.
#
#   scripts/sanitize.sh               # build, all tests, 20 s of fuzzing per target
#   VDM_FUZZ_SECONDS=0 scripts/sanitize.sh   # no fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --sanitizers
build=${VDM_SAN_BUILD_DIR:-build-san}
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVDM_WERROR=$werror -DVDM_SANITIZE=ON -DVDM_FUZZ=ON -DVDM_BUILD_BENCH=OFF
cmake --build "$build" -j "$(nproc)"
# Leak checking is on: a leak in vdm's code fails the test that made it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
seconds=${VDM_FUZZ_SECONDS:-20}
if [ "$seconds" -gt 0 ]; then
  VDM_SAN_BUILD_DIR=$build VDM_FUZZ_SEED=${VDM_FUZZ_SEED:-1} scripts/fuzz.sh "$seconds"
fi
