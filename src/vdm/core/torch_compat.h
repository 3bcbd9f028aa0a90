// The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (PyTorch installs, CUDA)
// differ for vdm. Everything else is written against the API both share.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#define VDM_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||      \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vdm::compat {

// softmax(q k^T / sqrt(Dh) + bias) v over the last two dims.
// q: [..., Lq, Dh], k, v: [..., Lk, Dh], bias: broadcastable to [..., Lq, Lk] or undefined.
// LibTorch >= 2.0 has a fused kernel (flash / memory-efficient on CUDA); 1.13 gets the
// reference composition, which is also the oracle the fused path is tested against.
inline torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v,
                                         const torch::Tensor& bias = {}) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;  // [..., Lq, Lk]
  if (bias.defined()) scores = scores + bias;
  return torch::matmul(torch::softmax(scores, -1), v);  // [..., Lq, Dh]
}

inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& bias = {}) {
#if VDM_TORCH_AT_LEAST(2, 0)
  if (bias.defined()) return at::scaled_dot_product_attention(q, k, v, bias.to(q.dtype()));
  return at::scaled_dot_product_attention(q, k, v);
#else
  return attention_reference(q, k, v, bias);
#endif
}

inline std::string torch_version() { return TORCH_VERSION; }

}  // namespace vdm::compat
