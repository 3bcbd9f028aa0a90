#!/usr/bin/env bash
# vdm's 3D U-Net against diffusers' UNet3DConditionModel in PyTorch eager (issue 4, acceptance 3):
# same machine, same threads, same weights, same inputs. See docs/bench.md.
#
#   cmake --build build --target bench_unet3d
#   bench/run_unet3d.sh [small|full|all]          (default: all)
#
# Environment (defaults in brackets):
#   THREADS [2]       intra-op threads for both
#   ROUNDS [3]        rounds of A B (vdm, eager) alternation per measurement
#   ITERS_SMALL [3]   timed iterations per process at the small config (after 1 warm-up)
#   ITERS_FULL [1]    timed iterations per process at the full config (after 1 warm-up)
#   FULL_TRAIN [0]    1: also time the full config's training step (forward + backward, no optimizer,
#                     1 round, 1 warm-up: 11.3 GB of weights and gradients plus activations per process)
#   TRAIN_FRAMES [4], TRAIN_SIZE [16]  the full training step's input (frames, latent size): smaller
#                     than the forward's so that one process fits in 24 GB
#   WORK [/tmp/vdm_bench]  models (the full one is 5.6 GB), inputs, outputs, results
#   BUILD [build]     CMake build folder holding bench_unet3d
#   UPDATE_DOCS [0]   1: replace the table between the unet3d markers in docs/bench.md
#
# Every measurement is its own process (peak RSS = that process's VmHWM). Results: one JSON line
# per process in $WORK/unet3d_<config>.jsonl, the table in $WORK/unet3d.md.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ITERS_SMALL=${ITERS_SMALL:-3}
ITERS_FULL=${ITERS_FULL:-1}
FULL_TRAIN=${FULL_TRAIN:-0}
TRAIN_FRAMES=${TRAIN_FRAMES:-4}
TRAIN_SIZE=${TRAIN_SIZE:-16}
WORK=${WORK:-/tmp/vdm_bench}
BUILD=${BUILD:-build}
BIN="$BUILD/bench_unet3d"
[ -x "$BIN" ] || { echo "run_unet3d: $BIN missing; cmake --build $BUILD --target bench_unet3d" >&2; exit 1; }
# shellcheck disable=SC1091
. /work/pyenv/env.sh
PY=(/usr/bin/python3 -W ignore bench/peer_unet3d.py)
mkdir -p "$WORK"

log() { echo "[run_unet3d $(date +%H:%M:%S)] $*" >&2; }
# Runs one process, appends its JSON line (tagged with the config) to the results file.
record() {
  local config=$1; shift
  local line load
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$("$@" | grep "^{" | tail -n 1) || { log "FAILED (continuing): $*"; return 0; }
  echo "$line" | sed "s/^{/{\"config\": \"$config\", \"loadavg_start\": $load, /" >>"$WORK/unet3d_$config.jsonl"
  echo "$line" >&2
}

bench_config() {
  local config=$1 iters=$2 optimizer=$3 train_rounds=$4 train_warmup=$5 train_iters=$6
  local dir="$WORK/$config" res="$WORK/unet3d_$config.jsonl"
  if [ ! -f "$dir/inputs.safetensors" ] || [ ! -f "$dir/model/config.json" ]; then
    log "$config: preparing model and inputs in $dir"
    "${PY[@]}" prepare --config "$config" --out "$dir" >&2
  fi
  : >"$res"
  local m=(--model "$dir/model" --inputs "$dir/inputs.safetensors" --threads "$THREADS")
  log "$config: forward f32, $ROUNDS rounds of vdm / eager, warm-up 1 + $iters timed each"
  for r in $(seq 1 "$ROUNDS"); do
    local save_v=() save_e=() refs=()
    if [ "$r" = 1 ]; then
      save_v=(--save-output "$dir/out_vdm_f32.safetensors")
      save_e=(--save-output "$dir/out_eager_f32.safetensors")
    fi
    [ -f "$dir/out_eager_f32.safetensors" ] && [ "$r" -gt 1 ] && refs=(--reference "$dir/out_eager_f32.safetensors")
    record "$config" "$BIN" "${m[@]}" --mode forward --iters "$iters" "${save_v[@]}" "${refs[@]}"
    record "$config" "${PY[@]}" run "${m[@]}" --mode forward --iters "$iters" "${save_e[@]}"
  done
  log "$config: vdm forward bf16"
  record "$config" "$BIN" "${m[@]}" --mode forward --dtype bf16 --iters "$iters" \
    --reference "$dir/out_vdm_f32.safetensors" --reference "$dir/out_eager_f32.safetensors"
  if [ "$train_rounds" -gt 0 ]; then
    log "$config: train step (optimizer: $optimizer), $train_rounds rounds, warm-up $train_warmup + $train_iters timed"
    if [ "$config" = full ]; then
      local train_inputs="inputs_train_${TRAIN_FRAMES}x${TRAIN_SIZE}.safetensors"
      [ -f "$dir/$train_inputs" ] || "${PY[@]}" prepare --config full --out "$dir" --frames "$TRAIN_FRAMES" \
        --size "$TRAIN_SIZE" --inputs-only "$train_inputs" >&2
      m=(--model "$dir/model" --inputs "$dir/$train_inputs" --threads "$THREADS")
    fi
    for _ in $(seq 1 "$train_rounds"); do
      record "$config" "$BIN" "${m[@]}" --mode train --optimizer "$optimizer" --warmup "$train_warmup" --iters "$train_iters"
      record "$config" "${PY[@]}" run "${m[@]}" --mode train --optimizer "$optimizer" --warmup "$train_warmup" --iters "$train_iters"
    done
  fi
}

log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS"
case "$WHICH" in
  small | all) bench_config small "$ITERS_SMALL" adamw "$ROUNDS" 1 "$ITERS_SMALL" ;;&
  full | all) bench_config full "$ITERS_FULL" none "$FULL_TRAIN" 1 1 ;;
  small) ;;
  *) echo "usage: $0 [small|full|all]" >&2; exit 2 ;;
esac
log "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

files=()
for c in small full; do [ -s "$WORK/unet3d_$c.jsonl" ] && files+=("$WORK/unet3d_$c.jsonl"); done
"${PY[@]}" report "${files[@]}" --markdown "$WORK/unet3d.md"
{
  echo
  echo "command: \`THREADS=$THREADS ROUNDS=$ROUNDS ITERS_SMALL=$ITERS_SMALL ITERS_FULL=$ITERS_FULL FULL_TRAIN=$FULL_TRAIN TRAIN_FRAMES=$TRAIN_FRAMES TRAIN_SIZE=$TRAIN_SIZE bench/run_unet3d.sh $WHICH\`; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); vdm $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+local changes')"
} >>"$WORK/unet3d.md"
if [ "${UPDATE_DOCS:-0}" = 1 ] && grep -q '<!-- unet3d:begin -->' docs/bench.md; then
  /usr/bin/python3 - "$WORK/unet3d.md" docs/bench.md <<'EOF'
import sys
table = open(sys.argv[1]).read()
doc = open(sys.argv[2]).read()
head, rest = doc.split("<!-- unet3d:begin -->", 1)
_, tail = rest.split("<!-- unet3d:end -->", 1)
open(sys.argv[2], "w").write(head + "<!-- unet3d:begin -->\n" + table + "<!-- unet3d:end -->" + tail)
EOF
  log "docs/bench.md updated"
fi
log "results: $WORK/unet3d_*.jsonl, table: $WORK/unet3d.md"
