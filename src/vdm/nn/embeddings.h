// Timestep and position embeddings.
// Sinusoidal embedding: Vaswani et al. 2017 (arXiv:1706.03762), Sec. 3.5, as DDPM and
// diffusers' get_timestep_embedding use it for diffusion timesteps.
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

// t: [N] (any real values) -> [N, dim].
// freq_k = exp(-log(max_period) * k / (half - downscale_freq_shift)), k < half = dim / 2;
// embedding = [sin(t freq), cos(t freq)], or [cos, sin] when flip_sin_to_cos; odd dims get a
// zero column. Computed in float32 (as diffusers does), whatever the model's dtype.
torch::Tensor sinusoidal_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos = true,
                                   double downscale_freq_shift = 0.0, double scale = 1.0,
                                   double max_period = 10000.0);

// diffusers' TimestepEmbedding: linear_1 -> SiLU -> linear_2.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim);
  torch::Tensor forward(const torch::Tensor& x);  // [N, in] -> [N, embed_dim]

  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// diffusers' AttentionPooling (from GLIDE): one query, the mean token plus a learned position,
// attends over [query; tokens] with `heads` heads; returns the query's output.
class AttentionPoolingImpl : public torch::nn::Module {
 public:
  AttentionPoolingImpl(int64_t heads, int64_t embed_dim);
  torch::Tensor forward(const torch::Tensor& x);  // [B, L, D] -> [B, D]

  int64_t heads;
  torch::Tensor positional_embedding;  // [1, D]
  torch::nn::Linear k_proj{nullptr}, q_proj{nullptr}, v_proj{nullptr};
};
TORCH_MODULE(AttentionPooling);

// diffusers' TextTimeEmbedding (addition_embed_type "text"): the text tokens pooled into one
// vector that is added to the timestep embedding, so every residual block (and through them
// the temporal layers) sees the whole prompt, not only the positions cross-attention routes
// it to. norm1 -> pool -> proj -> norm2. norm2's gain starts at zero, so a model that gains
// this path starts out computing what it computed without it.
class TextTimeEmbeddingImpl : public torch::nn::Module {
 public:
  TextTimeEmbeddingImpl(int64_t encoder_dim, int64_t time_embed_dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& tokens);  // [B, L, encoder_dim] -> [B, time_embed_dim]

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  AttentionPooling pool{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TextTimeEmbedding);

}  // namespace vdm::nn
