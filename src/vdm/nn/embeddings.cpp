#include "vdm/nn/embeddings.h"

#include <cmath>

#include "vdm/core/error.h"
#include "vdm/nn/linear.h"

namespace vdm::nn {

torch::Tensor sinusoidal_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                   double downscale_freq_shift, double scale, double max_period) {
  const int64_t half = dim / 2;
  auto exponent = -std::log(max_period) *
                  torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device())) /
                  (half - downscale_freq_shift);
  auto args = t.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);  // [N, half]
  args = args * scale;
  auto emb = flip_sin_to_cos ? torch::cat({torch::cos(args), torch::sin(args)}, -1)
                             : torch::cat({torch::sin(args), torch::cos(args)}, -1);  // [N, 2 half]
  if (dim % 2 == 1) emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim) {
  linear_1 = register_module("linear_1", torch::nn::Linear(in_channels, embed_dim));
  linear_2 = register_module("linear_2", torch::nn::Linear(embed_dim, embed_dim));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) {
  return linear_2(torch::silu(linear_1(x)));
}

AttentionPoolingImpl::AttentionPoolingImpl(int64_t heads_, int64_t embed_dim) : heads(heads_) {
  VDM_CHECK(heads > 0 && embed_dim % heads == 0, "attention pooling: width {} must be a multiple of heads {}",
            embed_dim, heads);
  positional_embedding =
      register_parameter("positional_embedding", torch::randn({1, embed_dim}) / std::sqrt(double(embed_dim)));
  k_proj = register_module("k_proj", torch::nn::Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", torch::nn::Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", torch::nn::Linear(embed_dim, embed_dim));
}

torch::Tensor AttentionPoolingImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), d = x.size(2), dh = d / heads;
  auto query_token = x.mean(1, /*keepdim=*/true) + positional_embedding.to(x.scalar_type());  // [B, 1, D]
  auto tokens = torch::cat({query_token, x}, 1);                                            // [B, L+1, D]
  auto split = [&](const torch::Tensor& t) { return t.view({b, -1, heads, dh}).transpose(1, 2); };  // [B, H, n, dh]
  auto q = split(linear(q_proj, query_token)), k = split(linear(k_proj, tokens)), v = split(linear(v_proj, tokens));
  auto weight = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(dh));                // [B, H, 1, L+1]
  const auto softmax_type = c10::promoteTypes(weight.scalar_type(), torch::kFloat32);  // bf16/f16 -> f32
  weight = torch::softmax(weight.to(softmax_type), -1).to(v.scalar_type());
  return torch::matmul(weight, v).reshape({b, d});  // heads concatenated: [B, D]
}

TextTimeEmbeddingImpl::TextTimeEmbeddingImpl(int64_t encoder_dim, int64_t time_embed_dim, int64_t heads) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({encoder_dim})));
  pool = register_module("pool", AttentionPooling(heads, encoder_dim));
  proj = register_module("proj", torch::nn::Linear(encoder_dim, time_embed_dim));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({time_embed_dim})));
  torch::NoGradGuard no_grad;
  norm2->weight.zero_();
}

torch::Tensor TextTimeEmbeddingImpl::forward(const torch::Tensor& tokens) {
  return norm2(linear(proj, pool(norm1(tokens))));
}

}  // namespace vdm::nn
