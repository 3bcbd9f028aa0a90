// Convolutional layers of the factorized space-time U-Net, on the frames-folded layout
// [(B F), C, H, W]: a 2D convolution over (B F) images is VDM's 1x3x3 space-only 3D
// convolution (Ho et al. 2022, arXiv:2204.03458, Sec. 3), computed the fast way.
// Module names follow diffusers (ResnetBlock2D, TemporalConvLayer, Downsample2D, Upsample2D).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "vdm/nn/conv2d.h"

namespace vdm::nn {

struct ResnetBlockOptions {
  ResnetBlockOptions(int64_t in_channels, int64_t out_channels, int64_t temb_channels)
      : in_channels_(in_channels), out_channels_(out_channels), temb_channels_(temb_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, temb_channels);  // 0: no timestep conditioning
  TORCH_ARG(int64_t, groups) = 32;
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, output_scale_factor) = 1.0;
};

// GroupNorm -> SiLU -> 3x3 conv -> + Linear(SiLU(temb)) -> GroupNorm -> SiLU -> dropout ->
// 3x3 conv, plus a (1x1-projected when widths differ) skip, divided by output_scale_factor.
class ResnetBlockImpl : public torch::nn::Module {
 public:
  explicit ResnetBlockImpl(const ResnetBlockOptions& options);
  // x: [N, Cin, H, W]; temb: [N, Ct] or undefined. Returns [N, Cout, H, W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});

  ResnetBlockOptions options;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ResnetBlock);

// diffusers' TemporalConvLayer (ModelScope): four (GroupNorm, SiLU, [Dropout], 3x1x1 Conv3d)
// stages over the frame axis, residual. The last conv starts at zero, so a fresh layer is the
// identity (Make-A-Video's identity initialisation of new temporal layers).
class TemporalConvImpl : public torch::nn::Module {
 public:
  TemporalConvImpl(int64_t channels, int64_t groups = 32, double dropout = 0.1);
  // x: [(B F), C, H, W]; is_image: [B] bool or undefined: image items pass through unchanged.
  torch::Tensor forward(const torch::Tensor& x, int64_t frames, const torch::Tensor& is_image = {});

  torch::nn::Sequential conv1, conv2, conv3, conv4;
};
TORCH_MODULE(TemporalConv);

// 3x3 stride-2 convolution (space only). padding 0 pads right/bottom by one, as diffusers.
class DownsampleImpl : public torch::nn::Module {
 public:
  DownsampleImpl(int64_t channels, int64_t padding = 1);
  torch::Tensor forward(const torch::Tensor& x);  // [N, C, H, W] -> [N, C, ceil(H/2), ceil(W/2)]
  int64_t padding;
  Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample);

// Nearest-neighbour 2x (or to `size`) upsampling followed by a 3x3 convolution (space only).
class UpsampleImpl : public torch::nn::Module {
 public:
  explicit UpsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<int64_t>& size = {});
  Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample);

}  // namespace vdm::nn
