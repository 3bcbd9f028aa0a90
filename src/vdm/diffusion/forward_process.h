// The forward (noising) process of seed section 1.1 (Kingma et al. 2021, arXiv:2107.00630,
// Eq. 1-2, 31-33):
//
//   q(z_t | x)   = N(alpha_t x, sigma_t^2 I)
//   q(z_t | z_s) = N((alpha_t / alpha_s) z_s, sigma_{t|s}^2 I),   s < t
//   sigma_{t|s}^2 = (1 - e^{lambda_t - lambda_s}) sigma_t^2  (= sigma_t^2 - alpha_{t|s}^2 sigma_s^2)
//   q(z_s | z_t, x) = N(mu, sigma_q^2 I),
//     mu = (alpha_{t|s} sigma_s^2 / sigma_t^2) z_t + (alpha_s sigma_{t|s}^2 / sigma_t^2) x
//     sigma_q^2 = sigma_{t|s}^2 sigma_s^2 / sigma_t^2
//
// Every random draw takes an explicit generator (DESIGN.md: determinism).
#pragma once
#include <torch/torch.h>

#include "vdm/diffusion/noise_level.h"

namespace vdm::diffusion {

// Standard normal noise shaped like `like`, drawn on the generator's device and moved to
// `like`'s device (as diffusers' randn_tensor does), so a CPU generator gives the same noise
// whatever device the latents live on.
torch::Tensor draw_noise(const torch::Tensor& like, torch::Generator& generator);

// z_t = alpha x + sigma eps.
torch::Tensor q_sample(const torch::Tensor& x, const torch::Tensor& eps, const NoiseLevel& level);
// Per-item levels: x, eps [B, ...].
torch::Tensor q_sample(const torch::Tensor& x, const torch::Tensor& eps,
                       const BatchedNoiseLevel& level);

// alpha_{t|s} = alpha_t / alpha_s and sigma_{t|s}^2 (with expm1, exact as s -> clean).
struct Transition {
  double alpha_ts = 1;
  double sigma2_ts = 0;
};
Transition transition(const NoiseLevel& s, const NoiseLevel& t);

// Draws z_t ~ q(z_t | z_s) for s less noisy than t.
torch::Tensor q_sample_transition(const torch::Tensor& z_s, const NoiseLevel& s,
                                  const NoiseLevel& t, torch::Generator& generator);

// q(z_s | z_t, x): its mean (a tensor) and variance (a scalar).
struct Posterior {
  torch::Tensor mean;
  double variance = 0;
};
Posterior posterior(const torch::Tensor& z_t, const torch::Tensor& x, const NoiseLevel& t,
                    const NoiseLevel& s);

}  // namespace vdm::diffusion
