#include "vdm/nn/attention.h"

#include <algorithm>

#include "vdm/core/torch_compat.h"
#include "vdm/nn/linear.h"

namespace vdm::nn {

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  const int64_t inner = o.heads() * o.head_dim();
  const int64_t kv_in = o.context_dim() > 0 ? o.context_dim() : o.query_dim();
  to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(o.query_dim(), inner).bias(o.qkv_bias())));
  to_k = register_module("to_k", torch::nn::Linear(torch::nn::LinearOptions(kv_in, inner).bias(o.qkv_bias())));
  to_v = register_module("to_v", torch::nn::Linear(torch::nn::LinearOptions(kv_in, inner).bias(o.qkv_bias())));
  to_out->push_back(torch::nn::Linear(inner, o.query_dim()));
  register_module("to_out", to_out);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context,
                                     const torch::Tensor& bias) {
  const auto& kv = context.defined() ? context : x;
  const int64_t n = x.size(0), nh = options.heads(), dh = options.head_dim();
  // n l (nh dh) -> n nh l dh
  auto split = [&](const torch::Tensor& t) { return t.view({n, t.size(1), nh, dh}).transpose(1, 2); };
  auto q = split(linear(to_q, x));   // [N, Nh, Lq, Dh]
  auto k = split(linear(to_k, kv));  // [N, Nh, Lk, Dh]
  auto v = split(linear(to_v, kv));  // [N, Nh, Lk, Dh]
  auto out = compat::scaled_dot_product_attention(q, k, v, bias);  // [N, Nh, Lq, Dh]
  out = out.transpose(1, 2).reshape({n, x.size(1), nh * dh});      // [N, Lq, Nh Dh]
  return linear(*to_out->ptr<torch::nn::LinearImpl>(0), out);  // [N, Lq, D]
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) {
  proj = register_module("proj", torch::nn::Linear(dim_in, dim_out * 2));
}

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
  auto both = linear(proj, x);  // [..., 2I]: value, gate
  const int64_t inner = both.size(-1) / 2;
  if ((torch::GradMode::is_enabled() && both.requires_grad()) || !both.is_contiguous()) {
    auto parts = both.chunk(2, -1);
    return parts[0] * torch::gelu(parts[1]);  // exact (erf) GELU, as diffusers
  }
  // Without autograd: GELU the gate and multiply in place, in row blocks of about 1 MB that
  // stay in cache. The composition above streams the [M, 2I] product (the U-Net's largest
  // activation) through memory three more times. The value half comes back as a view with
  // row stride 2I, which the next linear layer reads as it is.
  auto rows = both.view({-1, 2 * inner});
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 18) / (2 * inner));
  at::parallel_for(0, rows.size(0), block, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r += block) {
      auto part = rows.slice(0, r, std::min(end, r + block));
      auto gate = part.narrow(1, inner, inner);
      at::gelu_out(gate, gate);
      part.narrow(1, 0, inner).mul_(gate);
    }
  });
  return both.narrow(-1, 0, inner);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult) {
  net->push_back(GEGLU(dim, dim * mult));
  net->push_back(torch::nn::Dropout(0.0));
  net->push_back(torch::nn::Linear(dim * mult, dim));
  register_module("net", net);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return linear(*net->ptr<torch::nn::LinearImpl>(2), net[0]->as<GEGLU>()->forward(x));
}

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& o) : options(o) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-5)); };
  norm1 = register_module("norm1", ln());
  attn1 = register_module("attn1", Attention(AttentionOptions(o.dim(), o.heads(), o.head_dim())));
  if (o.context_dim() > 0 || o.double_self_attention()) {
    norm2 = register_module("norm2", ln());
    attn2 = register_module(
        "attn2", Attention(AttentionOptions(o.dim(), o.heads(), o.head_dim()).context_dim(o.context_dim())));
  }
  norm3 = register_module("norm3", ln());
  ff = register_module("ff", FeedForward(o.dim()));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& context,
                                            const torch::Tensor& self_bias,
                                            const torch::Tensor& position) {
  auto with_position = [&](torch::Tensor h) { return position.defined() ? h + position : h; };
  auto x = x_in + attn1->forward(with_position(norm1(x_in)), torch::Tensor(), self_bias);  // [N, L, D]
  if (attn2) {
    if (options.context_dim() > 0) {
      x = x + attn2->forward(norm2(x), context);
    } else {
      x = x + attn2->forward(with_position(norm2(x)), torch::Tensor(), self_bias);
    }
  }
  return x + ff(norm3(x));  // [N, L, D]
}

}  // namespace vdm::nn
