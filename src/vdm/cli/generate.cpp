// vdm generate PROMPT: a clip from the model that ships with vdm (or --checkpoint), with the
// model's own sampling defaults.
//
//   vdm generate "a red circle moving right"                  # -> a-red-circle-moving-right.mp4
//   vdm generate "a blue square moving up-left" -o sq.gif --seed 3 --guidance 5
#include <chrono>
#include <cmath>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/io/video.h"
#include "vdm/models/word_tokenizer.h"
#include "vdm/pipelines/text_to_video.h"

namespace vdm::cli {

namespace {

struct GenerateFlags {
  std::string prompt;
  std::string output;
  std::string checkpoint;
  std::optional<int> steps;
  std::optional<double> guidance;
  std::optional<int64_t> frames;
  std::string sampler;
  uint64_t seed = 0;
  std::optional<double> fps;
  bool allow_unknown_words = false;
};

int run_generate(const GenerateFlags& f, const GlobalOptions& global) {
  const auto start = std::chrono::steady_clock::now();
  // 1. Flags, before any work.
  VDM_USAGE_CHECK(!models::WordTokenizer::split(f.prompt).empty(), "PROMPT has no words: \"{}\"", f.prompt);
  const std::string output = f.output.empty() ? pipelines::prompt_slug(f.prompt) + ".mp4" : f.output;
  VDM_USAGE_CHECK(io::is_video_output_path(output),
                  "--output {}: expected a video path: .mp4, .webm, .gif, or a folder ending in '/' for PNG frames", output);
  output_folder_flag(output);
  VDM_USAGE_CHECK(!f.steps || (*f.steps >= 1 && *f.steps <= 10000), "--steps must be in [1, 10000], got {}",
                  f.steps.value_or(0));
  VDM_USAGE_CHECK(!f.guidance || (std::isfinite(*f.guidance) && *f.guidance >= 0 && *f.guidance <= 100),
                  "--guidance must be in [0, 100], got {}", f.guidance.value_or(0));
  VDM_USAGE_CHECK(!f.frames || (*f.frames >= 1 && *f.frames <= 1024), "--frames must be in [1, 1024], got {}",
                  f.frames.value_or(0));
  VDM_USAGE_CHECK(!f.fps || (*f.fps > 0 && *f.fps <= 1000), "--fps must be in (0, 1000], got {}", f.fps.value_or(0));
  if (!f.sampler.empty()) sampler_flag(f.sampler);
  if (!f.checkpoint.empty()) input_path_flag("--checkpoint", f.checkpoint);
  const torch::Device device = parse_device(global.device);
  const torch::Dtype dtype = parse_dtype(global.dtype, device);

  // 2. The model.
  const std::string model_path = f.checkpoint.empty() ? pipelines::default_model_path() : f.checkpoint;
  auto pipe = pipelines::TextToVideoPipeline::load(model_path, device, dtype);
  if (!f.allow_unknown_words) prompt_flag(pipe, f.prompt);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // 3. Sample and write.
  pipelines::TextToVideoParams params;
  if (!f.sampler.empty()) params.sampler = f.sampler;
  params.steps = f.steps;
  params.guidance = f.guidance;
  params.frames = f.frames;
  params.seed = f.seed;
  params.allow_unknown_words = f.allow_unknown_words;
  params.progress = global.progress();
  const auto sample_start = std::chrono::steady_clock::now();
  const auto clip = pipe.generate(f.prompt, params);  // [3, F, H, W]
  const double sample_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - sample_start).count();
  io::VideoWriteOptions video;
  video.fps = f.fps.value_or(pipe.defaults().fps);
  io::write_video(output, clip, video);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("wrote {}: \"{}\", {} frames {}x{}, {} {} steps, guidance {}, seed {} in {:.2f} s (load {:.2f} s, "
             "sampling {:.2f} s) with {}\n",
             output, f.prompt, clip.size(1), clip.size(3), clip.size(2), params.sampler.value_or(pipe.defaults().sampler),
             params.steps.value_or(pipe.defaults().steps), params.guidance.value_or(pipe.defaults().guidance), f.seed,
             total_s, load_s, sample_s, model_path);
  return 0;
}

}  // namespace

Runner setup_generate(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<GenerateFlags>();
  command.add_option("PROMPT", flags->prompt, "what the clip shows, e.g. \"a red circle moving right\"")->required();
  command.add_option("-o,--output", flags->output,
                     "video path: .mp4 (default: <prompt-slug>.mp4), .webm, .gif, or DIR/ for PNG frames");
  command.add_option("--checkpoint", flags->checkpoint,
                     "model file or training checkpoint (default: models/vdm-moving-shapes.safetensors)");
  command.add_option("--steps", flags->steps, "sampling steps (default: the model's)");
  command.add_option("--guidance", flags->guidance, "classifier-free guidance scale; 1 = none (default: the model's)");
  command.add_option("--seed", flags->seed, "seed of the initial noise")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--frames", flags->frames, "frames to generate (default: the model's training length)");
  command.add_option("--sampler", flags->sampler, "one of: " + diffusion::sampler_names() + " (default: the model's)");
  command.add_option("--fps", flags->fps, "frame rate of the video (default: the model's, 8)");
  command.add_flag("--allow-unknown-words", flags->allow_unknown_words,
                   "go on when the prompt has words the model never saw (they are read as <unk>)");
  return [flags, &global] { return run_generate(*flags, global); };
}

}  // namespace vdm::cli
