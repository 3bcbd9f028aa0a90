// Multi-head attention and the transformer block built from it, with diffusers' module names
// (to_q, to_k, to_v, to_out.0; norm1/attn1/norm2/attn2/norm3/ff), so diffusers checkpoints
// load by key. Vaswani et al. 2017 (arXiv:1706.03762), Eq. 1: softmax(Q K^T / sqrt(d)) V.
//
// Shape legend: N batch of sequences, L tokens, D model width, Nh heads, Dh head width.
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

struct AttentionOptions {
  AttentionOptions(int64_t query_dim, int64_t heads, int64_t head_dim)
      : query_dim_(query_dim), heads_(heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, query_dim);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, head_dim);
  TORCH_ARG(int64_t, context_dim) = 0;  // 0: self-attention (keys from the queries' input)
  TORCH_ARG(bool, qkv_bias) = false;    // diffusers' default for UNet attention
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);

  // x: [N, Lq, D]; context: [N, Lk, Dc] or undefined (self-attention);
  // bias: additive, broadcastable to [N, Nh, Lq, Lk], or undefined. Returns [N, Lq, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {},
                        const torch::Tensor& bias = {});

  AttentionOptions options;
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out;  // [0]: Linear (diffusers' [1] is a parameter-free Dropout)
};
TORCH_MODULE(Attention);

// Feed-forward with a GELU-gated linear unit (Shazeer 2020, arXiv:2002.05202):
// net.0.proj: D -> 2 * 4D, split into value and gate; value * gelu(gate); net.2: 4D -> D.
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(int64_t dim_in, int64_t dim_out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t mult = 4);
  torch::Tensor forward(const torch::Tensor& x);  // [N, L, D] -> [N, L, D]
  torch::nn::ModuleList net;  // [0]: GEGLU, [1]: Dropout (no parameters), [2]: Linear
};
TORCH_MODULE(FeedForward);

struct TransformerBlockOptions {
  TransformerBlockOptions(int64_t dim, int64_t heads, int64_t head_dim)
      : dim_(dim), heads_(heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, head_dim);
  // > 0: attn2 attends to a context of this width (text); 0: see double_self_attention.
  TORCH_ARG(int64_t, context_dim) = 0;
  // With no context: true gives a second self-attention (diffusers' TransformerTemporalModel),
  // false drops norm2/attn2 altogether.
  TORCH_ARG(bool, double_self_attention) = false;
};

// diffusers' BasicTransformerBlock with norm_type "layer_norm" (pre-norm, residual):
//   x = x + attn1(norm1(x)); x = x + attn2(norm2(x), context); x = x + ff(norm3(x)).
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options);

  // x: [N, L, D]; context: [N, Lc, Dc] or undefined; self_bias: additive bias of the
  // self-attentions (broadcastable to [N, Nh, L, L]); position: added to the normed input of
  // the self-attentions (broadcastable to [N, L, D]). Returns [N, L, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {},
                        const torch::Tensor& self_bias = {}, const torch::Tensor& position = {});

  TransformerBlockOptions options;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace vdm::nn
