#include "vdm/nn/relative_position.h"

#include <cmath>

namespace vdm::nn {

RelativePositionBiasImpl::RelativePositionBiasImpl(int64_t heads, int64_t buckets, int64_t max_dist)
    : num_buckets(buckets), max_distance(max_dist) {
  relative_attention_bias = register_module("relative_attention_bias", torch::nn::Embedding(buckets, heads));
  // Start near zero so a fresh layer attends as if it had no position information.
  torch::NoGradGuard no_grad;
  relative_attention_bias->weight.normal_(0.0, 0.02);
}

torch::Tensor RelativePositionBiasImpl::bucket(const torch::Tensor& relative, int64_t num_buckets,
                                               int64_t max_distance) {
  // Half the buckets for each sign; within a half, the first half exact, the rest log-spaced.
  const int64_t half = num_buckets / 2;
  auto sign_offset = (relative > 0).to(torch::kInt64) * half;
  auto n = relative.abs();
  const int64_t max_exact = half / 2;
  auto is_small = n < max_exact;
  auto log_bucket =
      max_exact + (torch::log(n.to(torch::kFloat32).clamp_min(1) / max_exact) /
                   std::log(static_cast<double>(max_distance) / max_exact) * (half - max_exact))
                      .to(torch::kInt64);
  log_bucket = torch::clamp_max(log_bucket, half - 1);
  return sign_offset + torch::where(is_small, n, log_bucket);
}

torch::Tensor RelativePositionBiasImpl::forward(int64_t frames) {
  const auto device = relative_attention_bias->weight.device();
  auto pos = torch::arange(frames, torch::TensorOptions().dtype(torch::kInt64).device(device));
  auto relative = pos.unsqueeze(0) - pos.unsqueeze(1);                  // [F, F]: key - query
  auto values = relative_attention_bias(bucket(relative, num_buckets, max_distance));  // [F, F, Nh]
  return values.permute({2, 0, 1});                                    // [Nh, F, F]
}

}  // namespace vdm::nn
