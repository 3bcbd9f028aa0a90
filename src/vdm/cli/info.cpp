// vdm info FILE: what a checkpoint, diffusers folder or video holds.
#include <filesystem>
#include <iostream>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/io/checkpoint.h"
#include "vdm/io/json.h"
#include "vdm/io/video.h"

namespace vdm::cli {
namespace fs = std::filesystem;

namespace {

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Prints every tensor, the parameter count, the metadata and the non-finite counts.
void print_weights(const std::string& path) {
  const std::string weights = io::resolve_weights(path);
  const io::TensorFile file = io::load_checkpoint(path);
  fmt::print("weights: {}\n", weights);
  size_t width = 4;
  for (const auto& [name, t] : file.tensors) width = std::max(width, name.size());
  int64_t params = 0, nan = 0, inf = 0, bytes = 0;
  for (const auto& [name, t] : file.tensors) {
    std::string bad;
    if (t.is_floating_point() && t.numel() > 0) {
      const int64_t n_nan = torch::isnan(t).sum().item<int64_t>();
      const int64_t n_inf = torch::isinf(t).sum().item<int64_t>();
      nan += n_nan;
      inf += n_inf;
      if (n_nan || n_inf) bad = fmt::format("  ({} NaN, {} Inf)", n_nan, n_inf);
    }
    params += t.numel();
    bytes += t.numel() * t.element_size();
    fmt::print("  {:<{}}  {:<4}  {}{}\n", name, width, dtype_name(t.scalar_type()), shape_text(t),
               bad);
  }
  if (!file.metadata.empty()) {
    fmt::print("metadata:\n");
    for (const auto& [k, v] : file.metadata) {
      fmt::print("  {}: {}\n", k, v.size() > 200 ? v.substr(0, 200) + "..." : v);
    }
  }
  fmt::print("{} tensors, {} parameters ({:.2f} MB), {} NaN, {} Inf\n", file.tensors.size(),
             params, bytes / 1e6, nan, inf);
}

void print_video(const std::string& path) {
  const io::VideoInfo info = io::probe_video(path);
  fmt::print("video: {}\n  container: {}\n  codec: {}\n  frames: {}\n  frame rate: {:.3f} fps\n"
             "  size: {}x{}\n  duration: {:.3f} s\n",
             path, info.container, info.codec, info.frame_count, info.fps, info.width, info.height,
             info.duration_s);
}

// A diffusers pipeline folder: model_index.json names its parts; show each part's weights.
void print_pipeline(const std::string& path) {
  const io::Json index = io::read_json_file((fs::path(path) / "model_index.json").string());
  fmt::print("diffusers pipeline: {} ({})\n", path,
             io::field_or(index, "_class_name", std::string("unknown class"), path));
  for (const auto& [part, value] : index.items()) {
    if (part.rfind('_', 0) == 0) continue;
    const fs::path dir = fs::path(path) / part;
    std::string kind = value.is_array() && value.size() == 2 && value[1].is_string()
                           ? value[1].get<std::string>()
                           : value.dump();
    fmt::print("\n== {} ({})\n", part, kind);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      fmt::print("  (no folder)\n");
      continue;
    }
    try {
      print_weights(dir.string());
    } catch (const Error& e) {
      // Schedulers and tokenizers have no weights; anything else broken is still an error.
      if (!fs::exists(dir / "scheduler_config.json", ec) && !fs::exists(dir / "vocab.json", ec) &&
          !fs::exists(dir / "tokenizer_config.json", ec)) {
        throw;
      }
      fmt::print("  (no weights)\n");
    }
  }
}

}  // namespace

Runner setup_info(CLI::App& command, const GlobalOptions& global) {
  auto path = std::make_shared<std::string>();
  command.add_option("PATH", *path,
                     "a .safetensors file, a *.safetensors.index.json, a diffusers model or "
                     "pipeline folder, or a video (.mp4 .webm .mov .mkv .gif)")
      ->required();
  return [path]() {
    input_path_flag("PATH", *path);
    if (io::is_diffusers_pipeline(*path)) {
      print_pipeline(*path);
    } else if (io::is_video_path(*path)) {
      print_video(*path);
    } else {
      print_weights(*path);
    }
    return 0;
  };
}

}  // namespace vdm::cli
