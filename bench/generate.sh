#!/usr/bin/env bash
# Wall time of `vdm generate` at its default settings, start-up included: the main job as a
# user runs it. Each run is a fresh process (load the model, encode the prompt, sample, write
# the MP4). Run it on an otherwise idle machine: LibTorch's OpenMP threads wait on each other
# when another process holds a core.
#
#   bench/generate.sh                      # build/vdm, 5 runs after 1 warm-up
#   BUILD=build RUNS=10 bench/generate.sh "a blue square moving up"
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
PROMPT=${1:-a red circle moving right}
VDM="$PWD/$BUILD/vdm"
[ -x "$VDM" ] || { echo "error: $VDM not found: build first (scripts/build.sh)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: vdm generate \"$PROMPT\" -o OUT.mp4   (default model, steps, sampler, guidance, threads)"
"$VDM" -q generate "$PROMPT" -o "$out/warmup.mp4"
times=()
for i in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  "$VDM" -q generate "$PROMPT" --seed "$i" -o "$out/run$i.mp4"
  end=$(date +%s.%N)
  times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v runs="$RUNS" '
  { t[NR] = $1; sum += $1 }
  END { printf "runs: %d  mean %.2f s  median %.2f s  min %.2f s  max %.2f s\n",
               runs, sum / NR, (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), t[1], t[NR] }'
