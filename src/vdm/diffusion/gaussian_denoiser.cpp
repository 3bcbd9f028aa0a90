#include "vdm/diffusion/gaussian_denoiser.h"

#include <cmath>

#include "vdm/core/error.h"

namespace vdm::diffusion {

GaussianMixture GaussianMixture::normalized() const {
  VDM_CHECK(!components.empty(), "a Gaussian mixture needs at least one component");
  double total = 0;
  for (const auto& c : components) {
    VDM_CHECK(c.weight > 0 && std::isfinite(c.weight), "mixture weight must be > 0, got {}",
              c.weight);
    VDM_CHECK(c.std >= 0 && std::isfinite(c.std), "mixture std must be >= 0, got {}", c.std);
    VDM_CHECK(std::isfinite(c.mean), "mixture mean must be finite, got {}", c.mean);
    total += c.weight;
  }
  GaussianMixture out = *this;
  for (auto& c : out.components) c.weight /= total;
  return out;
}

double GaussianMixture::mean() const {
  double m = 0;
  for (const auto& c : components) m += c.weight * c.mean;
  return m;
}

double GaussianMixture::variance() const {
  double second = 0;
  for (const auto& c : components) second += c.weight * (c.std * c.std + c.mean * c.mean);
  const double m = mean();
  return second - m * m;
}

torch::Tensor mixture_posterior_mean(const GaussianMixture& data, const torch::Tensor& z,
                                     const torch::Tensor& alpha, const torch::Tensor& sigma) {
  std::vector<torch::Tensor> log_resp, means;
  for (const auto& c : data.components) {
    const double s2 = c.std * c.std;
    const auto var = alpha * alpha * s2 + sigma * sigma;  // Var[z_t | component]
    const auto centered = z - alpha * c.mean;
    log_resp.push_back(std::log(c.weight) - 0.5 * torch::log(var) -
                       0.5 * centered * centered / var);
    means.push_back(c.mean + alpha * s2 * centered / var);  // E[x | z_t, component]
  }
  if (means.size() == 1) return means[0];
  const auto resp = torch::softmax(torch::stack(log_resp, 0), 0);  // [K, B, ...]
  return (resp * torch::stack(means, 0)).sum(0);
}

AnalyticDenoiser::AnalyticDenoiser(GaussianMixture data, Prediction output)
    : data_(data.normalized()), output_(output) {}

torch::Tensor AnalyticDenoiser::forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level,
                                        const Conditioning& /*cond*/) {
  VDM_CHECK(level.size() == z_t.size(0), "analytic denoiser: {} noise levels for batch {}",
            level.size(), z_t.size(0));
  ++calls_;
  const auto z = z_t.to(torch::kFloat64);
  const auto alpha = BatchedNoiseLevel::view_as_batch(level.alpha, z.dim(), torch::kFloat64)
                         .to(z.device());
  const auto sigma = BatchedNoiseLevel::view_as_batch(level.sigma, z.dim(), torch::kFloat64)
                         .to(z.device());
  const auto x = mixture_posterior_mean(data_, z, alpha, sigma);  // [B, C, F, H, W]
  return convert_prediction(x, Prediction::kX, output_, z, alpha, sigma).to(z_t.scalar_type());
}

torch::Tensor gaussian_pf_ode_solution(const torch::Tensor& z_t, const NoiseLevel& t,
                                       const NoiseLevel& s, double mean, double std) {
  const double sd_t = std::sqrt(t.alpha * t.alpha * std * std + t.sigma * t.sigma);
  const double sd_s = std::sqrt(s.alpha * s.alpha * std * std + s.sigma * s.sigma);
  return s.alpha * mean + (sd_s / sd_t) * (z_t - t.alpha * mean);
}

}  // namespace vdm::diffusion
