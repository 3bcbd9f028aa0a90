#!/usr/bin/env bash
# Rebuilds the fuzzers' seed corpora in tests/fuzz/corpus/<target>/ from files in the repo and
# a few clips written by vdm itself (so the video seeds are what vdm and FFmpeg really make).
# Usage: tools/make_fuzz_corpus.sh [path/to/vdm]   (default build/vdm)
set -euo pipefail
cd "$(dirname "$0")/.."
vdm=${1:-build/vdm}
out=tests/fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{safetensors,sharded_index,model_config,scheduler_config,train_config,tokenizer,video}

# safetensors: every dtype, a diffusers U-Net's layout, and a few shapes of the format.
cp tests/fixtures/safetensors/all_dtypes.safetensors "$out/safetensors/all_dtypes"
/usr/bin/python3 - "$out/safetensors" <<'PY'
import json, struct, sys
d = sys.argv[1]
def write(name, header, data=b""):
    h = json.dumps(header).encode()
    open(f"{d}/{name}", "wb").write(struct.pack("<Q", len(h)) + h + data)
write("empty", {})
write("metadata_only", {"__metadata__": {"format": "pt"}})
write("one_f32", {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16))
write("scalar_and_empty", {"s": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
                           "e": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [8, 8]}}, bytes(8))
write("two_with_meta", {"__metadata__": {"vdm.trained_steps": "5"},
                        "a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
                        "b": {"dtype": "U8", "shape": [1, 2], "data_offsets": [6, 8]}}, bytes(8))
PY

# sharded index: matches the two shards the target writes beside it.
cat > "$out/sharded_index/two_shards" <<'JSON'
{"metadata": {"total_size": 72}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.bias": "model-00001-of-00002.safetensors", "c.weight": "model-00002-of-00002.safetensors"}}
JSON
printf '{"weight_map": {"a.weight": "../escape.safetensors"}}' > "$out/sharded_index/escape"

# model configs: diffusers U-Nets, vdm's own, the shipped model's, a text encoder's.
for k in a b c; do cp "tests/fixtures/unet3d/$k/config.json" "$out/model_config/diffusers_$k"; done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
run = json.load(open("configs/moving_shapes_h100.json"))
json.dump(run["model"], open(f"{out}/model_config/text_to_video", "w"))
json.dump(run["model"]["unet"], open(f"{out}/model_config/vdm_unet", "w"))
json.dump(run["model"]["text_encoder"], open(f"{out}/model_config/text_encoder", "w"))
te = run["model"]["text_encoder"]
open(f"{out}/tokenizer/moving_shapes", "w").write(json.dumps(te) + "\na red circle moving right and a blue square moving up-left")
small = dict(te, vocabulary=["a", "dog", "runs"], max_length=4)
open(f"{out}/tokenizer/small", "w").write(json.dumps(small) + "\na dog runs fast")
state = {"step": 40, "data_position": 640, "ema_updates": 40, "skipped_steps": 1, "skipped_in_a_row": 0,
         "data": "synthetic:moving-shapes"}
json.dump(state, open(f"{out}/train_config/train_state", "w"))
PY
for f in configs/*.json; do cp "$f" "$out/train_config/$(basename "$f" .json)"; done

# scheduler configs: every fixture's.
for d in tests/fixtures/schedulers/*/; do
  cp "$d/scheduler_config.json" "$out/scheduler_config/$(basename "$d")"
done

# videos: first byte = extension index (0 .mp4, 1 .gif, 2 .webm), then a 4-frame clip by vdm.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for ext in mp4 gif webm; do
  "$vdm" generate "a red circle moving right" --frames 4 --steps 2 -o "$tmp/clip.$ext" >/dev/null 2>&1
  { printf "\\x$(printf %02x $i)"; cat "$tmp/clip.$ext"; } > "$out/video/clip_$ext"
  i=$((i + 1))
done
du -sh "$out"/*
