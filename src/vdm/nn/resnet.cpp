#include "vdm/nn/resnet.h"

#include "vdm/core/torch_compat.h"

namespace vdm::nn {

namespace F = torch::nn::functional;

ResnetBlockImpl::ResnetBlockImpl(const ResnetBlockOptions& o) : options(o) {
  norm1 = register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups(), o.in_channels()).eps(o.eps())));
  conv1 = register_module("conv1", Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), 3).padding(1)));
  if (o.temb_channels() > 0) {
    time_emb_proj = register_module("time_emb_proj", torch::nn::Linear(o.temb_channels(), o.out_channels()));
  }
  norm2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups(), o.out_channels()).eps(o.eps())));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  conv2 = register_module("conv2", Conv2d(torch::nn::Conv2dOptions(o.out_channels(), o.out_channels(), 3).padding(1)));
  if (o.in_channels() != o.out_channels()) {
    conv_shortcut = register_module("conv_shortcut", Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), 1)));
  }
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  auto h = conv1(torch::silu(norm1(compat::group_norm_input(x))));  // [N, Cout, H, W]
  if (time_emb_proj && temb.defined()) {
    h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2(dropout(torch::silu(norm2(compat::group_norm_input(h)))));
  auto skip = conv_shortcut ? conv_shortcut(x) : x;
  auto out = skip + h;
  return options.output_scale_factor() == 1.0 ? out : out / options.output_scale_factor();
}

namespace {
torch::nn::Sequential temporal_stage(int64_t channels, int64_t groups, double dropout, bool with_dropout) {
  torch::nn::Sequential s;
  s->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)));
  s->push_back(torch::nn::SiLU());
  if (with_dropout) s->push_back(torch::nn::Dropout(dropout));
  s->push_back(torch::nn::Conv3d(torch::nn::Conv3dOptions(channels, channels, {3, 1, 1}).padding({1, 0, 0})));
  return s;
}

// One stage on x [B, C, F, H, W]. Its 3x1x1 convolution runs as the equal 3x1 2D convolution of
// x viewed as [B, C, F, H W] with the same weights viewed [C, C, 3, 1]: LibTorch 1.13 sends 3D
// convolutions to its unfold-and-multiply fallback and 2D ones to oneDNN, 1.1 to 2.5 times
// faster here (forward and backward; bench/ measured it on this U-Net's shapes). Inference at
// 16x16 and above goes further, to oneDNN on plain layouts (frames_conv3x1, vdm/nn/conv2d.h).
torch::Tensor temporal_stage_forward(torch::nn::Sequential& stage, torch::Tensor x) {
  for (auto& module : *stage) {
    if (auto* conv = module.ptr()->as<torch::nn::Conv3dImpl>()) {
      const int64_t b = x.size(0), c = x.size(1), f = x.size(2), h = x.size(3), w = x.size(4);
      const auto& weight = conv->weight;  // [C_out, C_in, 3, 1, 1]
      x = frames_conv3x1(x.reshape({b, c, f, h * w}), weight.view({weight.size(0), weight.size(1), 3, 1}), conv->bias)
              .view({b, weight.size(0), f, h, w});
    } else {
      x = module.forward(x);
    }
  }
  return x;
}
}  // namespace

TemporalConvImpl::TemporalConvImpl(int64_t channels, int64_t groups, double dropout) {
  // Keys: conv1.0 (norm), conv1.2 (conv); conv2..4: .0 (norm), .3 (conv), as diffusers.
  conv1 = register_module("conv1", temporal_stage(channels, groups, dropout, false));
  conv2 = register_module("conv2", temporal_stage(channels, groups, dropout, true));
  conv3 = register_module("conv3", temporal_stage(channels, groups, dropout, true));
  conv4 = register_module("conv4", temporal_stage(channels, groups, dropout, true));
  torch::NoGradGuard no_grad;
  auto last = conv4[3]->as<torch::nn::Conv3d>();
  last->weight.zero_();
  last->bias.zero_();
}

torch::Tensor TemporalConvImpl::forward(const torch::Tensor& x, int64_t frames, const torch::Tensor& is_image) {
  const int64_t bf = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t b = bf / frames;
  auto identity = x.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4});  // (b f) c h w -> b c f h w
  auto delta = compat::group_norm_input(identity);
  for (auto* stage : {&conv1, &conv2, &conv3, &conv4}) delta = temporal_stage_forward(*stage, delta);  // [B, C, F, H, W]
  if (is_image.defined()) {
    delta = delta * is_image.logical_not().to(delta.dtype()).view({b, 1, 1, 1, 1});
  }
  auto out = identity + delta;
  return out.permute({0, 2, 1, 3, 4}).reshape({bf, c, h, w});  // b c f h w -> (b f) c h w
}

DownsampleImpl::DownsampleImpl(int64_t channels, int64_t pad) : padding(pad) {
  conv = register_module("conv", Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).stride(2).padding(pad)));
}

torch::Tensor DownsampleImpl::forward(const torch::Tensor& x) {
  if (padding == 0) return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  return conv(x);
}

UpsampleImpl::UpsampleImpl(int64_t channels) {
  conv = register_module("conv", Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1)));
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& size) {
  auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size.empty()) {
    opts.scale_factor(std::vector<double>{2.0, 2.0});
  } else {
    opts.size(size);
  }
  // Nearest interpolation is not implemented for bf16 in every LibTorch build: go via f32.
  auto up = x.scalar_type() == torch::kBFloat16 ? F::interpolate(x.to(torch::kFloat32), opts).to(x.dtype())
                                                : F::interpolate(x, opts);
  return conv(up);
}

}  // namespace vdm::nn
