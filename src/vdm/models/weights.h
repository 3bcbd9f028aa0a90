// Loading weights into a module by key: the module's parameter and buffer names are the
// checkpoint's names (diffusers' for diffusers-compatible models), so loading is a key check,
// not a translation table. Every mismatch is collected and reported in one error.
#pragma once
#include <torch/torch.h>

#include <string>

#include "vdm/io/safetensors.h"

namespace vdm::models {

struct LoadReport {
  int64_t tensors = 0;       // loaded
  int64_t non_finite = 0;    // NaN/Inf values among them (loaded anyway; callers may warn)
};

// Copies each tensor of `file` into the parameter or buffer of the same name (converting
// floating dtypes). Throws vdm::Error listing every missing key, unexpected key, shape
// mismatch and non-floating dtype for a floating parameter, naming `source`.
LoadReport load_weights(torch::nn::Module& module, const io::TensorFile& file, const std::string& source);

// Untrusted files carry the config of the model their weights fill: before building it, the
// model a config describes (at most `parameter_bound` float32 values) must fit in a small
// multiple of the bytes of weights the file holds: 64x, plus 256 MiB for small models. Throws
// vdm::Error naming `source` otherwise.
void check_model_fits_file(double parameter_bound, uint64_t weight_bytes, const std::string& source);

// The module's parameters and persistent buffers as a TensorList (for save_safetensors).
io::TensorList state_dict(const torch::nn::Module& module);

}  // namespace vdm::models
