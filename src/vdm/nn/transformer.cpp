#include "vdm/nn/transformer.h"

#include "vdm/core/error.h"
#include "vdm/core/torch_compat.h"
#include "vdm/nn/embeddings.h"
#include "vdm/nn/linear.h"

namespace vdm::nn {

SpatialTransformerImpl::SpatialTransformerImpl(const SpatialTransformerOptions& o) : options(o) {
  const int64_t inner = o.heads() * o.head_dim();
  norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups(), o.channels()).eps(1e-6)));
  if (o.linear_projection()) {
    proj_in = torch::nn::AnyModule(torch::nn::Linear(o.channels(), inner));
    proj_out = torch::nn::AnyModule(torch::nn::Linear(inner, o.channels()));
  } else {
    proj_in = torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels(), inner, 1)));
    proj_out = torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(inner, o.channels(), 1)));
  }
  register_module("proj_in", proj_in.ptr());
  register_module("proj_out", proj_out.ptr());
  for (int64_t i = 0; i < o.layers(); ++i) {
    transformer_blocks->push_back(TransformerBlock(
        TransformerBlockOptions(inner, o.heads(), o.head_dim()).context_dim(o.context_dim())));
  }
  register_module("transformer_blocks", transformer_blocks);
}

torch::Tensor SpatialTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto hidden = norm(compat::group_norm_input(x));  // [(B F), C, H, W]
  if (!options.linear_projection()) hidden = proj_in.forward(hidden);
  hidden = hidden.permute({0, 2, 3, 1}).reshape({n, h * w, hidden.size(1)});  // n c h w -> n (h w) c
  if (options.linear_projection()) hidden = linear(proj_in.get<torch::nn::Linear>(), hidden);  // [(B F), H W, D]
  for (const auto& block : *transformer_blocks) {
    hidden = block->as<TransformerBlock>()->forward(hidden, context);
  }
  if (options.linear_projection()) hidden = linear(proj_out.get<torch::nn::Linear>(), hidden);  // [(B F), H W, C]
  hidden = hidden.reshape({n, h, w, hidden.size(2)}).permute({0, 3, 1, 2});  // n (h w) c -> n c h w
  if (!options.linear_projection()) hidden = proj_out.forward(hidden.contiguous());
  (void)c;
  return hidden + x;
}

FramePosition parse_frame_position(const std::string& name) {
  if (name == "none") return FramePosition::kNone;
  if (name == "relative") return FramePosition::kRelative;
  if (name == "sinusoidal") return FramePosition::kSinusoidal;
  throw Error(fmt::format("unknown frame position encoding '{}'; expected one of: none, relative, "
                          "sinusoidal",
                          name));
}

std::string frame_position_name(FramePosition p) {
  switch (p) {
    case FramePosition::kNone: return "none";
    case FramePosition::kRelative: return "relative";
    case FramePosition::kSinusoidal: return "sinusoidal";
  }
  return "none";
}

TemporalTransformerImpl::TemporalTransformerImpl(const TemporalTransformerOptions& o) : options(o) {
  const int64_t inner = o.heads() * o.head_dim();
  norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups(), o.channels()).eps(1e-6)));
  proj_in = register_module("proj_in", torch::nn::Linear(o.channels(), inner));
  for (int64_t i = 0; i < o.layers(); ++i) {
    transformer_blocks->push_back(
        TransformerBlock(TransformerBlockOptions(inner, o.heads(), o.head_dim()).double_self_attention(true)));
  }
  register_module("transformer_blocks", transformer_blocks);
  proj_out = register_module("proj_out", torch::nn::Linear(inner, o.channels()));
  if (o.frame_position() == FramePosition::kRelative) {
    rel_pos_bias = register_module("rel_pos_bias", RelativePositionBias(o.heads()));
  }
}

torch::Tensor TemporalTransformerImpl::forward(const torch::Tensor& x, int64_t frames,
                                               const torch::Tensor& is_image) {
  const int64_t bf = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t b = bf / frames;
  // GroupNorm statistics per video over (C, F, H, W), as diffusers normalizes [B, C, F, H, W].
  auto hidden = x.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4});  // [B, C, F, H, W]
  hidden = norm(compat::group_norm_input(hidden));
  if (is_image.defined()) {
    // Image items are independent frames: their statistics must not come from the others.
    auto per_frame = norm(compat::group_norm_input(x)).view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4});  // [B, C, F, H, W]
    hidden = torch::where(is_image.view({b, 1, 1, 1, 1}), per_frame, hidden);
  }
  hidden = hidden.permute({0, 3, 4, 2, 1}).reshape({b * h * w, frames, c});  // b c f h w -> (b h w) f c
  hidden = linear(proj_in, hidden);                                         // [(B H W), F, D]

  torch::Tensor bias, position;
  if (options.frame_position() == FramePosition::kRelative) {
    bias = rel_pos_bias(frames).unsqueeze(0);  // [1, Nh, F, F]
  } else if (options.frame_position() == FramePosition::kSinusoidal) {
    auto idx = torch::arange(frames, torch::TensorOptions().device(x.device()));
    position = sinusoidal_embedding(idx, hidden.size(2), /*flip_sin_to_cos=*/false).to(hidden.dtype());  // [F, D]
  }
  if (is_image.defined()) {
    // Image items: every frame attends only to itself (-inf off the diagonal).
    auto eye = torch::eye(frames, torch::TensorOptions().dtype(torch::kBool).device(x.device()));
    auto blocked = torch::zeros({frames, frames}, hidden.options()).masked_fill(eye.logical_not(), -INFINITY);
    auto per_item = torch::where(is_image.view({b, 1, 1, 1}), blocked.view({1, 1, frames, frames}),
                                 torch::zeros_like(blocked).view({1, 1, frames, frames}));  // [B, 1, F, F]
    auto mask = per_item.repeat_interleave(h * w, 0);  // [(B H W), 1, F, F]
    bias = bias.defined() ? bias + mask : mask;
  }
  for (const auto& block : *transformer_blocks) {
    hidden = block->as<TransformerBlock>()->forward(hidden, {}, bias, position);
  }
  hidden = linear(proj_out, hidden);  // [(B H W), F, C]
  hidden = hidden.view({b, h, w, frames, c}).permute({0, 3, 4, 1, 2}).reshape({bf, c, h, w});  // -> (b f) c h w
  return hidden + x;
}

}  // namespace vdm::nn
