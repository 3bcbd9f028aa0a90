// The analytic denoiser: for data whose every coordinate is drawn independently from a
// Gaussian mixture sum_k w_k N(mu_k, s_k^2), the exact posterior mean E[x | z_t] is closed
// form, so it is the perfect denoiser any sampler can be checked against.
//
// For one component, z_t | x ~ N(alpha x, sigma^2) and x ~ N(mu, s^2) give
//   E[x | z_t] = mu + alpha s^2 (z_t - alpha mu) / (alpha^2 s^2 + sigma^2)
//   z_t ~ N(alpha mu, alpha^2 s^2 + sigma^2)
// For a mixture, the component posteriors are weighted by the responsibilities
//   r_k ∝ w_k N(z_t; alpha mu_k, alpha^2 s_k^2 + sigma^2).
// The probability-flow ODE of a single Gaussian is solved in closed form too: it keeps the
// standardized value (z_t - alpha_t mu) / sqrt(alpha_t^2 s^2 + sigma_t^2) constant (Song et al.
// 2021, arXiv:2011.13456, Eq. 13, with the score of the Gaussian marginal), which gives
// convergence tests an exact reference.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "vdm/diffusion/denoiser.h"

namespace vdm::diffusion {

struct GaussianComponent {
  double weight = 1;
  double mean = 0;
  double std = 1;
};

// A 1-D Gaussian mixture, applied to every coordinate independently.
struct GaussianMixture {
  std::vector<GaussianComponent> components;

  static GaussianMixture gaussian(double mean, double std) { return {{{1.0, mean, std}}}; }
  // Validates weights > 0 (normalized here), std >= 0, and at least one component.
  GaussianMixture normalized() const;
  double mean() const;
  double variance() const;
};

// Outputs E[x | z_t] converted to `output` (eps, x or v); computed in float64.
class AnalyticDenoiser final : public Denoiser {
 public:
  explicit AnalyticDenoiser(GaussianMixture data, Prediction output = Prediction::kX);
  torch::Tensor forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level,
                        const Conditioning& cond) override;
  Prediction prediction() const override { return output_; }
  const GaussianMixture& data() const { return data_; }
  int64_t calls() const { return calls_; }

 private:
  GaussianMixture data_;
  Prediction output_;
  int64_t calls_ = 0;
};

// E[x | z_t] for the mixture (float64 in, float64 out). alpha, sigma broadcast against z.
torch::Tensor mixture_posterior_mean(const GaussianMixture& data, const torch::Tensor& z,
                                     const torch::Tensor& alpha, const torch::Tensor& sigma);

// The exact probability-flow ODE solution from level t to level s for data N(mean, std^2).
torch::Tensor gaussian_pf_ode_solution(const torch::Tensor& z_t, const NoiseLevel& t,
                                       const NoiseLevel& s, double mean, double std);

}  // namespace vdm::diffusion
