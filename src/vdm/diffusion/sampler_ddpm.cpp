// DDPM ancestral sampling (Ho et al. 2020, arXiv:2006.11239, Algorithm 2, Eq. 6-7), between
// any two levels of any schedule: z_s ~ q(z_s | z_t, x = x_hat), the Gaussian posterior of
// forward_process.h, with its variance (diffusers "fixed_small") or sigma_{t|s}^2
// ("fixed_large"). No noise is added on a step that lands on clean data.
#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

torch::Tensor sample_ddpm(Denoiser& model, const torch::Tensor& z_in, const Conditioning& cond,
                          const SamplingPlan& plan, const SamplerOptions& options) {
  VDM_CHECK(options.generator || options.noise_sampler,
            "ddpm draws noise at every step and needs a generator");
  SamplerLoop loop(plan, options);
  auto z = z_in;  // [B, C, F, H, W]
  for (size_t i = 0; i < plan.steps(); ++i) {
    const auto& t = plan.levels[i];
    const auto& s = plan.targets[i];
    const auto d = denoise(model, z, t, cond, options);
    const auto q = posterior(z, d.x0, t, s);  // mean, sigma_q^2 (Eq. 7)
    z = q.mean;
    if (!s.is_clean()) {
      const double variance = options.ddpm_variance == DdpmVariance::kPosterior
                                  ? q.variance
                                  : transition(s, t).sigma2_ts;
      z = z + std::sqrt(variance) * sampler_noise(z, options, "ddpm");
    }
    loop.step_done(i, d.x0, z);
  }
  loop.finish();
  return z;
}

}  // namespace vdm::diffusion
