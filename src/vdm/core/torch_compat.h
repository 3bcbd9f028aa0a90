// The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (PyTorch installs, CUDA)
// differ for vdm. Everything else is written against the API both share.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#include <vector>

#include "vdm/core/chunked_attention.h"

#define VDM_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||      \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vdm::compat {

// softmax(q k^T / sqrt(Dh) + bias) v over the last two dims.
// q: [..., Lq, Dh], k, v: [..., Lk, Dh], bias: broadcastable to [..., Lq, Lk] or undefined.
// LibTorch >= 2.0 has a fused kernel (flash / memory-efficient on CUDA); 1.13 gets
// attention_chunked below. attention_reference is the oracle both are tested against.
inline torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v,
                                         const torch::Tensor& bias = {}) {
  // Scaling q (Lq x Dh values) instead of the scores (Lq x Lk) saves a pass over the largest
  // tensor of the computation.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q * scale, k.transpose(-2, -1));  // [..., Lq, Lk]
  if (bias.defined()) scores = scores + bias;
  return torch::matmul(torch::softmax(scores, -1), v);  // [..., Lq, Dh]
}

// The same computed by chunked_attention (core/chunked_attention.h): [..., L, D] folded into
// groups, a block of query rows at a time, with its own memory-efficient backward.
inline torch::Tensor attention_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, const torch::Tensor& bias = {},
                                       int64_t score_budget = int64_t(1) << 18) {
  const int64_t lq = q.size(-2), lk = k.size(-2), dh = q.size(-1), dv = v.size(-1);
  const int64_t groups = q.numel() / (lq * dh);
  torch::Tensor b3;
  if (bias.defined()) {
    std::vector<int64_t> full(q.sizes().begin(), q.sizes().end() - 1);
    full.push_back(lk);
    b3 = bias.expand(full).reshape({groups, lq, lk});
  }
  auto out = chunked_attention(q.reshape({groups, lq, dh}), k.reshape({groups, lk, dh}), v.reshape({groups, lk, dv}),
                               b3, score_budget);
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end() - 1);
  shape.push_back(dv);
  return out.view(shape);
}

inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& bias = {}) {
#if VDM_TORCH_AT_LEAST(2, 0)
  if (bias.defined()) return at::scaled_dot_product_attention(q, k, v, bias.to(q.dtype()));
  return at::scaled_dot_product_attention(q, k, v);
#else
  return attention_chunked(q, k, v, bias);
#endif
}

// LibTorch 1.13's CPU GroupNorm gives wrong results for a bfloat16 or float16 input that is
// not contiguous in the standard layout (channels-last 4D or 5D views, which vdm's frame/space
// reshapes hand it): 20% to 140% of the output's
// magnitude, where float32 and CUDA are exact (tools/probe_bf16.cpp found it; tests
// UNet3DBf16.*). A standard-contiguous copy takes the correct path. Every GroupNorm input goes
// through here; it copies only in that case.
inline torch::Tensor group_norm_input(const torch::Tensor& x) {
  const bool reduced = x.scalar_type() == torch::kBFloat16 || x.scalar_type() == torch::kHalf;
  return reduced && x.device().is_cpu() && !x.is_contiguous() ? x.contiguous() : x;
}

inline std::string torch_version() { return TORCH_VERSION; }

}  // namespace vdm::compat
