// DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", arXiv:2010.02502), Eq. 12:
//
//   z_s = alpha_s x_hat + sqrt(sigma_s^2 - c^2) eps_hat + c noise,
//   c = eta sqrt(sigma_q^2),  sigma_q^2 = sigma_{t|s}^2 sigma_s^2 / sigma_t^2   (Eq. 16)
//
// written for any alpha, sigma (diffusers' DDIMScheduler.step is the VP case:
// sigma_q^2 = (1 - abar_prev) / (1 - abar_t) (1 - abar_t / abar_prev)).
#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

torch::Tensor sample_ddim(Denoiser& model, const torch::Tensor& z_in, const Conditioning& cond,
                          const SamplingPlan& plan, const SamplerOptions& options) {
  VDM_CHECK(options.eta >= 0 && options.eta <= 1, "ddim: eta must be in [0, 1], got {}",
            options.eta);
  VDM_CHECK(options.eta == 0 || options.generator || options.noise_sampler,
            "ddim with eta = {} draws noise and needs a generator", options.eta);
  SamplerLoop loop(plan, options);
  auto z = z_in;  // [B, C, F, H, W]
  for (size_t i = 0; i < plan.steps(); ++i) {
    const auto& t = plan.levels[i];
    const auto& s = plan.targets[i];
    const auto d = denoise(model, z, t, cond, options);
    // 1. c^2 = eta^2 sigma_q^2 (Eq. 16)
    double c = 0;
    if (options.eta > 0 && !s.is_clean()) {
      const auto tr = transition(s, t);
      c = options.eta * std::sqrt(tr.sigma2_ts * s.sigma * s.sigma / (t.sigma * t.sigma));
    }
    // 2. "direction pointing to z_t" and the new sample (Eq. 12)
    const double dir = std::sqrt(std::max(s.sigma * s.sigma - c * c, 0.0));
    z = s.alpha * d.x0 + dir * d.eps;
    if (c > 0) z = z + c * sampler_noise(z, options, "ddim");
    loop.step_done(i, d.x0, z);
  }
  loop.finish();
  return z;
}

}  // namespace vdm::diffusion
