// Euler on the probability-flow ODE (Karras et al. 2022, "Elucidating the Design Space...",
// arXiv:2206.00364, Eq. 4 and Algorithm 1 without churn), in the variance-exploding view
// x = z / alpha, sigma_ve = sigma / alpha:
//
//   d = (x - x_hat) / sigma_ve_t,   x_s = x_t + (sigma_ve_s - sigma_ve_t) d,   z_s = alpha_s x_s
//
// (diffusers' EulerDiscreteScheduler.step with s_churn = 0; its scale_model_input is exactly
// the map back to z = x / sqrt(1 + sigma_ve^2) for VP schedules).
#include "vdm/core/error.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

torch::Tensor sample_euler(Denoiser& model, const torch::Tensor& z_in, const Conditioning& cond,
                           const SamplingPlan& plan, const SamplerOptions& options) {
  SamplerLoop loop(plan, options);
  auto z = z_in;  // [B, C, F, H, W]
  for (size_t i = 0; i < plan.steps(); ++i) {
    const auto& t = plan.levels[i];
    const auto& s = plan.targets[i];
    VDM_CHECK(t.alpha > 0, "euler needs alpha > 0 at every model level (t = {})", t.t);
    const auto d = denoise(model, z, t, cond, options);
    if (s.is_clean()) {
      z = d.x0;  // x_s = x_t - sigma_ve_t d = x_hat
    } else {
      const auto x_t = z / t.alpha;                  // [B, C, F, H, W], VE view
      const auto slope = (x_t - d.x0) / t.sigma_ve();  // dx / dsigma_ve
      z = s.alpha * (x_t + (s.sigma_ve() - t.sigma_ve()) * slope);
    }
    loop.step_done(i, d.x0, z);
  }
  loop.finish();
  return z;
}

}  // namespace vdm::diffusion
