// Finding and loading weights wherever a user points: a .safetensors file, a sharded
// `*.safetensors.index.json`, or a diffusers model folder (`config.json` beside
// `diffusion_pytorch_model.safetensors` or its sharded index; transformers' `model.safetensors`
// names too). Pickle files (.bin, .pt, .ckpt) are refused with a message saying why.
#pragma once
#include <optional>
#include <string>

#include "vdm/io/safetensors.h"

namespace vdm::io {

// The weights file (or shard index) for `path`; throws naming what was looked for.
std::string resolve_weights(const std::string& path);

// Loads the weights at `path` (file, index or folder; see resolve_weights).
TensorFile load_checkpoint(const std::string& path);

// True for a diffusers pipeline folder (has model_index.json).
bool is_diffusers_pipeline(const std::string& path);

}  // namespace vdm::io
