#include "vdm/io/checkpoint.h"

#include <filesystem>

#include "vdm/core/error.h"

namespace vdm::io {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Names diffusers and transformers give weights, in the order they prefer them.
const char* const kWeightNames[] = {
    "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
    "model.safetensors", "model.safetensors.index.json"};
const char* const kPickleNames[] = {"diffusion_pytorch_model.bin", "pytorch_model.bin",
                                    "model.ckpt"};

}  // namespace

bool is_diffusers_pipeline(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "model_index.json", ec);
}

std::string resolve_weights(const std::string& path) {
  std::error_code ec;
  VDM_CHECK(fs::exists(path, ec), "'{}' does not exist", path);
  if (fs::is_directory(path, ec)) {
    for (const char* name : kWeightNames) {
      const fs::path candidate = fs::path(path) / name;
      if (fs::is_regular_file(candidate, ec)) return candidate.string();
    }
    for (const char* name : kPickleNames) {
      VDM_CHECK(!fs::exists(fs::path(path) / name, ec),
                "'{}' holds only pickle weights ({}); vdm never loads pickle (it can run code). "
                "Convert them to safetensors first",
                path, name);
    }
    throw Error(fmt::format("'{}' holds no weights: expected one of "
                            "diffusion_pytorch_model.safetensors, model.safetensors or their "
                            "sharded .safetensors.index.json",
                            path));
  }
  for (const char* ext : {".bin", ".pt", ".pth", ".ckpt", ".pkl"}) {
    VDM_CHECK(!ends_with(path, ext),
              "'{}' is a pickle file; vdm never loads pickle (it can run code). Convert it to "
              "safetensors first",
              path);
  }
  return path;
}

TensorFile load_checkpoint(const std::string& path) {
  const std::string weights = resolve_weights(path);
  if (ends_with(weights, ".index.json")) return load_sharded_safetensors(weights);
  return load_safetensors(weights);
}

}  // namespace vdm::io
