#include "vdm/nn/embeddings.h"

#include <cmath>

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

}  // namespace vdm::nn
