// Longer videos and higher frame rates from a model that makes fixed-length clips, by
// reconstruction guidance (VDM, Sec. 3.1; diffusion/reconstruction_guidance.h):
//
// - extend: windows of the model's length, each starting with the last `overlap` frames made
//   so far (known) and making the rest, until the clip has `frames` frames (autoregressive
//   extension);
// - interpolate: `factor` - 1 new frames between each pair of given frames; a window holds m
//   given frames at every factor-th position ((m - 1) factor + 1 <= the model's length), and
//   consecutive windows share their boundary frame.
//
//   auto pipe = TextToVideoPipeline::load("models/vdm-moving-shapes.safetensors");
//   auto longer = extend_video(pipe, clip, 64, "a red circle moving right", {});     // [3, 64, H, W]
//   auto smoother = interpolate_video(pipe, clip, 2, "a red circle moving right", {});
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "vdm/pipelines/text_to_video.h"

namespace vdm::pipelines {

struct ConditionalVideoParams {
  TextToVideoParams sampling;  // sampler, steps, guidance, seed (window k uses seed + k)
  double weight = 2.0;         // w_r; 0: the replacement baseline
  int64_t window = 0;          // frames per window; 0: the model's training length
  int64_t overlap = 0;         // extend: known frames per window; 0: half the window
  // Called before each window: (window index, window count).
  std::function<void(int64_t, int64_t)> on_window;
};

// clip: [3, F0, H, W] in [-1, 1] at the model's size. Returns [3, frames, H, W]: the clip's
// frames first (unchanged), then the new ones. prompt: "" samples unconditionally.
torch::Tensor extend_video(TextToVideoPipeline& pipe, const torch::Tensor& clip, int64_t frames,
                           const std::string& prompt, const ConditionalVideoParams& params);

// Returns [3, (F0 - 1) factor + 1, H, W]: frame i factor is the clip's frame i.
torch::Tensor interpolate_video(TextToVideoPipeline& pipe, const torch::Tensor& clip, int64_t factor,
                                const std::string& prompt, const ConditionalVideoParams& params);

}  // namespace vdm::pipelines
