// Text-to-video with a vdm-trained model (train/text_video_model.h): encode the prompt, start
// from seeded noise, run a sampler (diffusion/sampler.h) on the U-Net with classifier-free
// guidance against the learned null embedding (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6),
// and return the clip in pixel space. The pipeline keeps the frozen model; each call is its
// own request (params in, clip out), so one pipeline serves many prompts.
//
//   auto pipe = vdm::pipelines::TextToVideoPipeline::load(vdm::pipelines::default_model_path());
//   vdm::pipelines::TextToVideoParams params;          // the model's saved defaults
//   params.seed = 7;
//   auto clip = pipe.generate("a red circle moving right", params);   // [3, 16, 32, 32]
//   vdm::io::write_video("red-circle.mp4", clip);
//
// Determinism: item b's initial noise comes from its own CPU generator seeded with seeds[b],
// so a prompt/seed pair gives the same clip alone or in a batch (up to the last bits of
// batched arithmetic) on every device. The default sampler (DPM-Solver++(2M)) draws nothing
// else; stochastic samplers draw from a generator seeded with seeds[0] + 1.
//
// Not thread-safe: one request at a time per pipeline.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vdm/core/progress.h"
#include "vdm/train/text_video_model.h"

namespace vdm::pipelines {

struct TextToVideoParams {
  std::optional<std::string> sampler;  // default: the model's (SamplingDefaults)
  std::optional<int> steps;
  std::optional<double> guidance;  // 1: no guidance (one forward per step)
  std::optional<int64_t> frames;   // default: the model's training length
  uint64_t seed = 0;
  double eta = 0;  // DDIM only
  bool allow_unknown_words = false;
  ProgressOptions progress = quiet();

  static ProgressOptions quiet() {
    ProgressOptions p;
    p.enabled = false;
    return p;
  }
};

// Frames the sample must contain (diffusion/reconstruction_guidance.h): extension and
// interpolation condition a window on frames that are already there.
struct KnownFrames {
  torch::Tensor frames;  // [B or 1, 3, F, H, W] in [-1, 1]: the known frames' values (others ignored)
  torch::Tensor known;   // [F] bool: which frames of the window are given
  double weight = 2.0;   // w_r of reconstruction guidance; 0: the replacement baseline
};

class TextToVideoPipeline {
 public:
  // The model runs on `device` in `dtype` (bf16 needs a GPU or an AVX512-BF16 CPU).
  explicit TextToVideoPipeline(train::TextVideoModel model, torch::Device device = torch::kCPU,
                               torch::Dtype dtype = torch::kFloat32);
  // A model file or a training checkpoint (its EMA weights).
  static TextToVideoPipeline load(const std::string& path, torch::Device device = torch::kCPU,
                                  torch::Dtype dtype = torch::kFloat32);

  // One clip: [3, F, H, W] float32 on the CPU, in [-1, 1].
  torch::Tensor generate(const std::string& prompt, const TextToVideoParams& params = {});
  // A batch: prompts[b] with seeds[b] (same length); params.seed is ignored. An empty prompt
  // (all of them, or none) samples unconditionally. With `known`, the clips keep those frames
  // and the others are made to fit them (params.frames must then be known's length).
  // Returns [B, 3, F, H, W] float32 on the CPU, in [-1, 1].
  torch::Tensor generate_batch(const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds,
                               const TextToVideoParams& params = {}, const KnownFrames* known = nullptr);

  // Throws vdm::Error naming the words the model never saw (and listing the ones it knows).
  void check_prompt(const std::string& prompt) const;

  const train::TextVideoModel& model() const { return model_; }
  const train::SamplingDefaults& defaults() const { return model_.config.sampling; }

 private:
  train::TextVideoModel model_;
  torch::Device device_;
  torch::Dtype dtype_;
};

// The model that ships with vdm: models/vdm-moving-shapes.safetensors, looked for next to
// the running executable and in the source tree above it (exe_dir/models,
// exe_dir/../models, exe_dir/../share/vdm/models, and VDM_SOURCE_DIR/models when the build
// defines it). Throws vdm::Error listing the places tried and saying how to train one.
std::string default_model_path();
constexpr const char* kDefaultModelFile = "vdm-moving-shapes.safetensors";

// "a red circle moving right" -> "a-red-circle-moving-right": lowercase ASCII letters and
// digits, every other run of characters one '-', at most 80 characters; "video" if empty.
std::string prompt_slug(const std::string& prompt);

}  // namespace vdm::pipelines
