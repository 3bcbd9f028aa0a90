// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", arXiv:2211.01095, Algorithm 2), the
// data-prediction multistep solver of the probability-flow ODE in half-log-SNR
// l = log(alpha / sigma) = lambda / 2, with h = l_s - l_t:
//
//   first order:  z_s = (sigma_s / sigma_t) z_t - alpha_s expm1(-h) x_hat_t
//   2M:           D = (1 + 1/(2r)) x_hat_t - 1/(2r) x_hat_prev,  r = h_prev / h
//                 z_s = (sigma_s / sigma_t) z_t - alpha_s expm1(-h) D
//
// First order on the first step, on a step that lands on clean data (sigma_s = 0, where it
// gives z_s = x_hat), and on the last step when options ask for it (diffusers'
// lower_order_final with fewer than 15 steps, euler_at_final).
#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

torch::Tensor sample_dpmpp_2m(Denoiser& model, const torch::Tensor& z_in,
                              const Conditioning& cond, const SamplingPlan& plan,
                              const SamplerOptions& options) {
  SamplerLoop loop(plan, options);
  const size_t n = plan.steps();
  auto z = z_in;  // [B, C, F, H, W]
  torch::Tensor x0_prev;
  for (size_t i = 0; i < n; ++i) {
    const auto& t = plan.levels[i];
    const auto& s = plan.targets[i];
    VDM_CHECK(t.alpha > 0, "dpmpp_2m needs alpha > 0 at every model level (t = {})", t.t);
    const auto d = denoise(model, z, t, cond, options);
    if (s.is_clean()) {
      z = d.x0;  // the first-order update's limit as sigma_s -> 0
    } else {
      const double l_t = 0.5 * t.lambda(), l_s = 0.5 * s.lambda();
      const double h = l_s - l_t;
      const bool last = i + 1 == n;
      const bool first_order = !x0_prev.defined() ||
                                (last && (options.euler_at_final ||
                                          (options.lower_order_final && n < 15)));
      torch::Tensor D = d.x0;
      if (!first_order) {
        const double l_prev = 0.5 * plan.levels[i - 1].lambda();
        const double r = (l_t - l_prev) / h;
        D = (1.0 + 0.5 / r) * d.x0 - (0.5 / r) * x0_prev;
      }
      z = (s.sigma / t.sigma) * z - (s.alpha * std::expm1(-h)) * D;
    }
    x0_prev = d.x0;
    loop.step_done(i, d.x0, z);
  }
  loop.finish();
  return z;
}

}  // namespace vdm::diffusion
