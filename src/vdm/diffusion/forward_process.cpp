#include "vdm/diffusion/forward_process.h"

#include <cmath>

#include "vdm/core/error.h"

namespace vdm::diffusion {

torch::Tensor draw_noise(const torch::Tensor& like, torch::Generator& generator) {
  auto options = like.options().device(generator.device());
  if (!like.is_floating_point()) options = options.dtype(torch::kFloat32);
  return torch::randn(like.sizes(), generator, options).to(like.device());
}

torch::Tensor q_sample(const torch::Tensor& x, const torch::Tensor& eps, const NoiseLevel& level) {
  return level.alpha * x + level.sigma * eps;  // [B, C, F, H, W]
}

torch::Tensor q_sample(const torch::Tensor& x, const torch::Tensor& eps,
                       const BatchedNoiseLevel& level) {
  VDM_CHECK(level.size() == x.size(0), "q_sample: {} levels for a batch of {}", level.size(),
            x.size(0));
  const auto alpha = BatchedNoiseLevel::view_as_batch(level.alpha, x.dim(), x.scalar_type());
  const auto sigma = BatchedNoiseLevel::view_as_batch(level.sigma, x.dim(), x.scalar_type());
  return alpha * x + sigma * eps;  // [B, C, F, H, W]
}

Transition transition(const NoiseLevel& s, const NoiseLevel& t) {
  VDM_CHECK(t.sigma > 0 && s.alpha > 0 && s.lambda() >= t.lambda(),
            "transition q(z_t | z_s) needs s less noisy than t (lambda_s={} >= lambda_t={})",
            s.lambda(), t.lambda());
  Transition out;
  out.alpha_ts = t.alpha / s.alpha;
  // sigma_{t|s}^2 = (1 - e^{lambda_t - lambda_s}) sigma_t^2  (seed 1.1)
  out.sigma2_ts = s.is_clean() ? t.sigma * t.sigma
                               : -std::expm1(t.lambda() - s.lambda()) * t.sigma * t.sigma;
  return out;
}

torch::Tensor q_sample_transition(const torch::Tensor& z_s, const NoiseLevel& s,
                                  const NoiseLevel& t, torch::Generator& generator) {
  const auto tr = transition(s, t);
  return tr.alpha_ts * z_s + std::sqrt(tr.sigma2_ts) * draw_noise(z_s, generator);
}

Posterior posterior(const torch::Tensor& z_t, const torch::Tensor& x, const NoiseLevel& t,
                    const NoiseLevel& s) {
  const auto tr = transition(s, t);
  const double sigma2_t = t.sigma * t.sigma, sigma2_s = s.sigma * s.sigma;
  Posterior out;
  out.mean = (tr.alpha_ts * sigma2_s / sigma2_t) * z_t + (s.alpha * tr.sigma2_ts / sigma2_t) * x;
  out.variance = tr.sigma2_ts * sigma2_s / sigma2_t;
  return out;
}

}  // namespace vdm::diffusion
