// The two attention layers of a factorized space-time U-Net (VDM, Ho et al. 2022,
// arXiv:2204.03458, Sec. 3): spatial attention over H*W tokens with frames as batch, and
// temporal attention over F tokens with space as batch. Module names follow diffusers'
// Transformer2DModel and TransformerTemporalModel, so their checkpoints load by key.
//
// Both take and return the frames-folded layout [(B F), C, H, W] that 2D layers use.
#pragma once
#include <torch/torch.h>

#include <string>

#include "vdm/nn/attention.h"
#include "vdm/nn/relative_position.h"

namespace vdm::nn {

struct SpatialTransformerOptions {
  SpatialTransformerOptions(int64_t channels, int64_t heads, int64_t head_dim)
      : channels_(channels), heads_(heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, head_dim);
  TORCH_ARG(int64_t, context_dim) = 0;  // 0: no cross-attention
  TORCH_ARG(int64_t, groups) = 32;
  TORCH_ARG(bool, linear_projection) = true;  // proj_in/out as Linear (else 1x1 Conv2d)
  TORCH_ARG(int64_t, layers) = 1;
};

// diffusers' Transformer2DModel (continuous input): GroupNorm, proj_in, blocks over the H*W
// tokens of each frame, proj_out, residual.
class SpatialTransformerImpl : public torch::nn::Module {
 public:
  explicit SpatialTransformerImpl(const SpatialTransformerOptions& options);
  // x: [(B F), C, H, W]; context: [(B F), L, Dc] or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

  SpatialTransformerOptions options;
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::AnyModule proj_in, proj_out;
  torch::nn::ModuleList transformer_blocks;
};
TORCH_MODULE(SpatialTransformer);

// How temporal attention knows frame order.
enum class FramePosition {
  kNone,        // diffusers' UNet3DConditionModel: order only through temporal convolutions
  kRelative,    // VDM: learned relative position bias per head
  kSinusoidal,  // fixed sinusoidal embedding of the frame index, added to the tokens
};
FramePosition parse_frame_position(const std::string& name);  // "none", "relative", "sinusoidal"
std::string frame_position_name(FramePosition p);

struct TemporalTransformerOptions {
  TemporalTransformerOptions(int64_t channels, int64_t heads, int64_t head_dim)
      : channels_(channels), heads_(heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, head_dim);
  TORCH_ARG(int64_t, groups) = 32;
  TORCH_ARG(FramePosition, frame_position) = FramePosition::kNone;
  TORCH_ARG(int64_t, layers) = 1;
};

// diffusers' TransformerTemporalModel: GroupNorm over (C, F, H, W) per video, proj_in, blocks
// of two self-attentions over the F frames at each pixel, proj_out, residual.
class TemporalTransformerImpl : public torch::nn::Module {
 public:
  explicit TemporalTransformerImpl(const TemporalTransformerOptions& options);
  // x: [(B F), C, H, W]; is_image: [B] bool or undefined. Items flagged as images attend only
  // to themselves (VDM's joint image-video training), so other frames cannot reach them.
  torch::Tensor forward(const torch::Tensor& x, int64_t frames, const torch::Tensor& is_image = {});

  TemporalTransformerOptions options;
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Linear proj_in{nullptr}, proj_out{nullptr};
  torch::nn::ModuleList transformer_blocks;
  RelativePositionBias rel_pos_bias{nullptr};  // only with FramePosition::kRelative
};
TORCH_MODULE(TemporalTransformer);

}  // namespace vdm::nn
