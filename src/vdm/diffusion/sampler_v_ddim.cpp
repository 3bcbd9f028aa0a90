// Angular DDIM for v-prediction (Salimans & Ho 2022, arXiv:2202.00512, Appendix D; seed 1.3):
// with phi = arctan(sigma / alpha), z_phi = cos(phi) x + sin(phi) eps and
// v = dz/dphi = cos(phi) eps - sin(phi) x, the deterministic DDIM step is a rotation
//
//   z_{phi_s} = cos(phi_s - phi_t) z_{phi_t} + sin(phi_s - phi_t) v_hat(z_{phi_t}).
//
// It equals the Cartesian DDIM (eta = 0) step on any VP schedule. With an x0 transform (clip,
// thresholding) v_hat is rebuilt from the transformed x and the eps consistent with it,
// i.e. diffusers' DDIM with use_clipped_model_output=True.
#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

torch::Tensor sample_v_ddim(Denoiser& model, const torch::Tensor& z_in, const Conditioning& cond,
                            const SamplingPlan& plan, const SamplerOptions& options) {
  VDM_CHECK(options.eta == 0, "v_ddim is deterministic; eta must be 0, got {}", options.eta);
  auto check_vp = [](const NoiseLevel& level) {
    VDM_CHECK(std::abs(level.alpha * level.alpha + level.sigma * level.sigma - 1.0) < 1e-6,
              "v_ddim needs a variance-preserving schedule; alpha^2 + sigma^2 = {} at t = {}",
              level.alpha * level.alpha + level.sigma * level.sigma, level.t);
  };
  SamplerLoop loop(plan, options);
  auto z = z_in;  // [B, C, F, H, W]
  for (size_t i = 0; i < plan.steps(); ++i) {
    const auto& t = plan.levels[i];
    const auto& s = plan.targets[i];
    check_vp(t);
    check_vp(s);
    const auto batch = BatchedNoiseLevel::broadcast(t, z.size(0), z.device());
    const auto output = model.forward(z, batch, cond);
    const double phi_t = t.phi(), phi_s = s.phi();
    torch::Tensor v_hat, x0;
    if (model.prediction() == Prediction::kV && !options.x0_transform) {
      v_hat = output;
      x0 = x_from_v_angular(z, v_hat, phi_t);
    } else {
      x0 = denoised_from(output, model.prediction(), z, t.alpha, t.sigma).x0;
      if (options.x0_transform) x0 = options.x0_transform(x0);
      // v = (cos(phi) z - x) / sin(phi): from x = cos(phi) z - sin(phi) v
      v_hat = (std::cos(phi_t) * z - x0) / std::sin(phi_t);
    }
    z = std::cos(phi_s - phi_t) * z + std::sin(phi_s - phi_t) * v_hat;  // rotation by phi_s - phi_t
    loop.step_done(i, x0, z);
  }
  loop.finish();
  return z;
}

}  // namespace vdm::diffusion
