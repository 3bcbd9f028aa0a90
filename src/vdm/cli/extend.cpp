// vdm extend / vdm interpolate: longer clips and higher frame rates from the shipped model (or
// --checkpoint) by reconstruction guidance (pipelines/extend_interpolate.h). One file for both:
// they share every flag but --frames / --factor.
//
//   vdm extend --input clip.mp4 --frames 64 --prompt "a red circle moving right"   # -> clip-extended.mp4
//   vdm interpolate --input clip.gif --factor 2 -o smooth.gif
//   vdm extend --input clip.mp4 --frames 32 --method replacement                   # the baseline
#include <chrono>
#include <cmath>
#include <filesystem>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/io/video.h"
#include "vdm/pipelines/extend_interpolate.h"

namespace vdm::cli {

namespace {

struct ConditionalFlags {
  bool interpolate = false;
  std::string input, output, prompt, checkpoint, sampler, method = "reconstruction";
  int64_t frames = 0, factor = 0;
  std::optional<int64_t> overlap;
  double weight = 2.0;
  std::optional<int> steps;
  std::optional<double> guidance, fps;
  uint64_t seed = 0;
  bool allow_unknown_words = false;
};

int run_conditional(const ConditionalFlags& f, const GlobalOptions& global) {
  const auto start = std::chrono::steady_clock::now();
  const char* verb = f.interpolate ? "interpolate" : "extend";
  // 1. Flags, before any work.
  input_path_flag("--input", f.input);
  std::error_code ec;
  VDM_USAGE_CHECK(std::filesystem::is_regular_file(f.input, ec), "--input {}: not a file", f.input);
  VDM_USAGE_CHECK(io::is_video_path(f.input), "--input {}: expected a video (.mp4, .webm, .mov, .mkv, .gif)",
                  f.input);
  const std::string output =
      f.output.empty() ? std::filesystem::path(f.input).stem().string() + (f.interpolate ? "-x" + std::to_string(f.factor) : std::string("-extended")) + ".mp4"
                       : f.output;
  VDM_USAGE_CHECK(io::is_video_output_path(output),
                  "--output {}: expected a video path: .mp4, .webm, .gif, or a folder ending in '/' for PNG frames", output);
  output_folder_flag(output);
  VDM_USAGE_CHECK(f.method == "reconstruction" || f.method == "replacement",
                  "--method must be reconstruction or replacement, got '{}'", f.method);
  VDM_USAGE_CHECK(std::isfinite(f.weight) && f.weight >= 0 && f.weight <= 1000, "--weight must be in [0, 1000], got {}",
                  f.weight);
  VDM_USAGE_CHECK(!f.steps || (*f.steps >= 1 && *f.steps <= 10000), "--steps must be in [1, 10000], got {}",
                  f.steps.value_or(0));
  VDM_USAGE_CHECK(!f.guidance || (std::isfinite(*f.guidance) && *f.guidance >= 0 && *f.guidance <= 100),
                  "--guidance must be in [0, 100], got {}", f.guidance.value_or(0));
  VDM_USAGE_CHECK(!f.fps || (*f.fps > 0 && *f.fps <= 1000), "--fps must be in (0, 1000], got {}", f.fps.value_or(0));
  VDM_USAGE_CHECK(!f.overlap || *f.overlap >= 1, "--overlap must be >= 1, got {}", f.overlap.value_or(0));
  if (f.interpolate) {
    VDM_USAGE_CHECK(f.factor >= 2 && f.factor <= 64, "--factor must be in [2, 64], got {}", f.factor);
  } else {
    VDM_USAGE_CHECK(f.frames >= 2 && f.frames <= 65536, "--frames must be in [2, 65536], got {}", f.frames);
  }
  if (!f.sampler.empty()) sampler_flag(f.sampler);
  if (!f.checkpoint.empty()) input_path_flag("--checkpoint", f.checkpoint);
  const torch::Device device = parse_device(global.device);
  const torch::Dtype dtype = parse_dtype(global.dtype, device);

  // 2. The model and the clip, read at the model's size.
  const std::string model_path = f.checkpoint.empty() ? pipelines::default_model_path() : f.checkpoint;
  auto pipe = pipelines::TextToVideoPipeline::load(model_path, device, dtype);
  if (!f.prompt.empty() && !f.allow_unknown_words) prompt_flag(pipe, f.prompt);
  const int64_t window = pipe.model().config.frames;
  VDM_USAGE_CHECK(!f.overlap || *f.overlap < window,
                  "--overlap must be in [1, {}] for this model's {}-frame window, got {}", window - 1, window,
                  f.overlap.value_or(0));
  io::VideoReadOptions read;
  read.width = static_cast<int>(pipe.model().config.width);
  read.height = static_cast<int>(pipe.model().config.height);
  read.max_frames = 4096;
  const auto clip = io::read_video(f.input, read).frames;  // [3, F0, H, W]
  if (!f.interpolate) {
    VDM_USAGE_CHECK(f.frames > clip.size(1), "--frames {} must exceed the input's {} frames", f.frames, clip.size(1));
  }

  // 3. Fill in, window by window.
  pipelines::ConditionalVideoParams params;
  if (!f.sampler.empty()) params.sampling.sampler = f.sampler;
  params.sampling.steps = f.steps;
  params.sampling.guidance = f.guidance;
  params.sampling.seed = f.seed;
  params.sampling.allow_unknown_words = f.allow_unknown_words;
  params.weight = f.method == "replacement" ? 0.0 : f.weight;
  params.overlap = f.overlap.value_or(0);  // 0: the pipeline's default
  const bool show = !global.quiet;
  params.on_window = [&](int64_t index, int64_t count) {
    if (show) fmt::print(stderr, "{}: window {}/{}\n", verb, index + 1, count);
  };
  params.sampling.progress = global.progress();
  const auto video = f.interpolate ? pipelines::interpolate_video(pipe, clip, f.factor, f.prompt, params)
                                   : pipelines::extend_video(pipe, clip, f.frames, f.prompt, params);
  io::VideoWriteOptions write;
  write.fps = f.fps.value_or(pipe.defaults().fps * (f.interpolate ? static_cast<double>(f.factor) : 1.0));
  io::write_video(output, video, write);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("wrote {}: {} frames from {}'s {} ({}, w_r {}), {}x{}, in {:.1f} s with {}\n", output, video.size(1),
             f.input, clip.size(1), f.method, params.weight, video.size(3), video.size(2), total_s, model_path);
  return 0;
}

void add_shared(CLI::App& command, ConditionalFlags& f) {
  command.add_option("--input", f.input, "the clip (.mp4, .webm, .mov, .mkv, .gif), read at the model's size")
      ->required();
  command.add_option("-o,--output", f.output, "video path (.mp4, .webm, .gif, or DIR/ for PNG frames)");
  command.add_option("--prompt", f.prompt, "what the clip shows (default: none, unconditional)");
  command.add_option("--checkpoint", f.checkpoint,
                     "model file or training checkpoint (default: models/vdm-moving-shapes.safetensors)");
  command.add_option("--method", f.method, "reconstruction (guidance, VDM 3.1) or replacement (the baseline)")
      ->capture_default_str();
  command.add_option("--weight", f.weight, "w_r, the reconstruction guidance weight")->capture_default_str();
  command.add_option("--steps", f.steps, "sampling steps per window (default: the model's)");
  command.add_option("--guidance", f.guidance, "classifier-free guidance scale (default: the model's)");
  command.add_option("--sampler", f.sampler, "one of: " + diffusion::sampler_names() + " (default: the model's)");
  command.add_option("--seed", f.seed, "seed of the first window's noise (window k: seed + k)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--fps", f.fps, "frame rate of the output (default: the model's, times the factor)");
  command.add_flag("--allow-unknown-words", f.allow_unknown_words, "go on with words the model never saw");
}

}  // namespace

Runner setup_extend(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<ConditionalFlags>();
  command.add_option("--frames", flags->frames, "length of the result, input included")->required();
  command.add_option("--overlap", flags->overlap, "known frames per window (default: half the model's length)");
  add_shared(command, *flags);
  return [flags, &global] { return run_conditional(*flags, global); };
}

Runner setup_interpolate(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<ConditionalFlags>();
  flags->interpolate = true;
  command.add_option("--factor", flags->factor, "frames out per frame in: factor - 1 new between each pair")
      ->required();
  add_shared(command, *flags);
  return [flags, &global] { return run_conditional(*flags, global); };
}

}  // namespace vdm::cli
