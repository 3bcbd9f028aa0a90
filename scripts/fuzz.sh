#!/usr/bin/env bash
# Runs every libFuzzer target (built by scripts/sanitize.sh in build-san, under AddressSanitizer
# and UndefinedBehaviorSanitizer) for SECONDS each, starting from its seed corpus in
# tests/fuzz/corpus/<target>. New inputs go to build-san/fuzz/corpus/<target> (kept between
# runs, so long runs add up); crashes, timeouts and out-of-memory inputs to
# build-san/fuzz/findings/. Exits non-zero if any target had a finding. Each target's time,
# executions and result are appended to build-san/fuzz/history.tsv.
#
#   scripts/fuzz.sh            # smoke: 20 s per target (CI)
#   scripts/fuzz.sh 1800 2     # long: 30 min per target, 2 targets at a time
#
# VDM_FUZZ_SEED=N fixes libFuzzer's random seed (0, the default: a new one each run); CI's
# smoke run fixes it, so it replays the same mutations on every run.
#
# Limits per input (docs/reliability.md): 1 s (-timeout), 256 MB in one allocation
# (-malloc_limit_mb), 2 GB resident in all (-rss_limit_mb; LibTorch under ASan starts near 350 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
jobs=${2:-1}
build=${VDM_SAN_BUILD_DIR:-build-san}
targets=(safetensors sharded_index model_config scheduler_config train_config tokenizer video)
mkdir -p "$build/fuzz/findings" "$build/fuzz/logs"
# Inputs that need a path are written to a scratch folder: on tmpfs, so that the 1 s limit
# measures vdm and not a disk that is busy with something else.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {
  local t=$1
  local exe="$build/fuzz_$t"
  [ -x "$exe" ] || { echo "fuzz: $exe is missing; run scripts/sanitize.sh first" >&2; return 2; }
  mkdir -p "$build/fuzz/corpus/$t"
  local log="$build/fuzz/logs/$t.log"
  local start=$SECONDS result=ok
  "$exe" -max_total_time="$seconds" -seed="${VDM_FUZZ_SEED:-0}" -timeout=1 -malloc_limit_mb=256 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz/findings/$t-" \
      "$build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || result=finding
  local runs
  runs=$(grep -aEo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  # The running total of fuzzing time on this machine (docs/reliability.md reports it).
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$((SECONDS - start))" "$runs" "$result" \
    >> "$build/fuzz/history.tsv"
  if [ "$result" = ok ]; then
    echo "fuzz_$t: ok, $runs inputs in ${seconds}s, corpus $(ls "$build/fuzz/corpus/$t" | wc -l) files"
  else
    echo "fuzz_$t: FINDING (log: $log)"
    grep -aE "ERROR|finding|SUMMARY|Test unit written" "$log" | head -5
    return 1
  fi
}

status=0
if [ "$jobs" -le 1 ]; then
  for t in "${targets[@]}"; do run_one "$t" || status=1; done
else
  export -f run_one
  export build seconds
  printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' || status=1
fi
exit $status
