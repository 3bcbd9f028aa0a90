// Learned relative position bias over frame distances, per head: VDM (Ho et al. 2022,
// arXiv:2204.03458, Sec. 3) uses it in temporal attention so the model knows frame order.
// Distances are bucketed as in T5 (Raffel et al. 2020, arXiv:1910.10683): exact for small
// distances, logarithmic up to max_distance, signed (bidirectional).
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

class RelativePositionBiasImpl : public torch::nn::Module {
 public:
  RelativePositionBiasImpl(int64_t heads, int64_t num_buckets = 32, int64_t max_distance = 128);

  // Bias for `frames` queries and keys: [Nh, F, F], added to attention scores.
  torch::Tensor forward(int64_t frames);

  // Bucket of each relative position (key - query), [F, F] int64. Public for tests.
  static torch::Tensor bucket(const torch::Tensor& relative, int64_t num_buckets, int64_t max_distance);

  int64_t num_buckets, max_distance;
  torch::nn::Embedding relative_attention_bias{nullptr};  // [buckets, Nh]
};
TORCH_MODULE(RelativePositionBias);

}  // namespace vdm::nn
