// The forward process q(z_t | x), q(z_t | z_s) and the posterior (issue 3, acceptance 1).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "vdm/diffusion/forward_process.h"

using namespace vdm::diffusion;
using vdm::diffusion::test::cpu_generator;

namespace {
const CosineSchedule& cosine() {
  static const CosineSchedule schedule;
  return schedule;
}
const std::vector<std::pair<double, double>>& pairs() {  // (s, t), s < t
  static const std::vector<std::pair<double, double>> p = {
      {0.0, 0.3}, {0.1, 0.2}, {0.2, 0.9}, {0.5, 0.51}, {0.7, 1.0}, {0.05, 0.95}};
  return p;
}
}  // namespace

TEST(DiffusionForward, TransitionVarianceFormulaMatchesDefinition) {
  const auto discrete = DiscreteSchedule::from_betas(linear_betas(1000, 1e-4, 0.02));
  for (const Schedule* schedule : {static_cast<const Schedule*>(&cosine()),
                                   static_cast<const Schedule*>(discrete.get())}) {
    for (auto [ts, tt] : pairs()) {
      if (ts == 0.0) ts = 1e-3;  // lambda_s finite for the formula's left side
      const auto s = NoiseLevel::at(*schedule, ts), t = NoiseLevel::at(*schedule, tt);
      const auto tr = transition(s, t);
      // sigma_{t|s}^2 = sigma_t^2 - (alpha_t / alpha_s)^2 sigma_s^2
      const double direct = t.sigma * t.sigma - std::pow(t.alpha / s.alpha, 2) * s.sigma * s.sigma;
      EXPECT_NEAR(tr.sigma2_ts, direct, 1e-12) << "s=" << ts << " t=" << tt;
      EXPECT_NEAR(tr.alpha_ts, t.alpha / s.alpha, 1e-15);
    }
  }
}

TEST(DiffusionForward, TwoStepDrawHasMarginalMoments) {
  // x fixed; z_s ~ q(z_s | x), then z_t ~ q(z_t | z_s). The result must have the moments of
  // q(z_t | x): mean alpha_t x, variance sigma_t^2. n = 400k draws per pair, so the standard
  // errors are sigma_t / 632 (mean) and sigma_t^2 sqrt(2 / n) = 0.0022 sigma_t^2 (variance);
  // tolerance: 5 standard errors.
  const int64_t n = 400000;
  auto gen = cpu_generator(1234);
  const double x_value = 0.7;
  const auto x = torch::full({n}, x_value, torch::kFloat64);
  for (auto [ts, tt] : pairs()) {
    const auto s = NoiseLevel::at(cosine(), ts), t = NoiseLevel::at(cosine(), tt);
    const auto z_s = q_sample(x, draw_noise(x, gen), s);
    const auto z_t = q_sample_transition(z_s, s, t, gen);
    const double mean = z_t.mean().item<double>(), var = z_t.var().item<double>();
    const double se_mean = t.sigma / std::sqrt(static_cast<double>(n));
    const double se_var = t.sigma * t.sigma * std::sqrt(2.0 / n);
    std::printf("s=%.2f t=%.2f: mean %.5f (exact %.5f), var %.5f (exact %.5f)\n", ts, tt, mean,
                t.alpha * x_value, var, t.sigma * t.sigma);
    EXPECT_NEAR(mean, t.alpha * x_value, 5 * se_mean);
    EXPECT_NEAR(var, t.sigma * t.sigma, 5 * se_var);
  }
}

TEST(DiffusionForward, PosteriorIsBayesRule) {
  // q(z_s | z_t, x) ∝ q(z_s | x) q(z_t | z_s): precisions add, means combine
  // (an independent derivation from the product of the two Gaussians).
  const auto z_t = torch::tensor({-1.3, 0.2, 2.5}, torch::kFloat64);
  const auto x = torch::tensor({0.4, -0.9, 1.0}, torch::kFloat64);
  for (auto [ts, tt] : pairs()) {
    const auto s = NoiseLevel::at(cosine(), ts), t = NoiseLevel::at(cosine(), tt);
    const auto q = posterior(z_t, x, t, s);
    if (s.is_clean()) {
      EXPECT_LT(vdm::diffusion::test::max_abs_diff(q.mean, x), 1e-12);
      continue;
    }
    const double a_ts = t.alpha / s.alpha;
    const double v_ts = t.sigma * t.sigma - a_ts * a_ts * s.sigma * s.sigma;
    const double precision = 1.0 / (s.sigma * s.sigma) + a_ts * a_ts / v_ts;
    const auto mean = (s.alpha * x / (s.sigma * s.sigma) + a_ts * z_t / v_ts) / precision;
    EXPECT_NEAR(q.variance, 1.0 / precision, 1e-12);
    EXPECT_LT(vdm::diffusion::test::max_abs_diff(q.mean, mean), 1e-10);
  }
}

TEST(DiffusionForward, BatchedQSampleUsesPerItemLevels) {
  const auto x = torch::ones({3, 2, 1, 2, 2}, torch::kFloat64);
  const auto eps = torch::full({3, 2, 1, 2, 2}, 2.0, torch::kFloat64);
  const auto level = BatchedNoiseLevel::at(cosine(), torch::tensor({0.1, 0.5, 0.9}, torch::kFloat64));
  const auto z = q_sample(x, eps, level);
  for (int b = 0; b < 3; ++b) {
    const double expected = level.alpha[b].item<double>() + 2.0 * level.sigma[b].item<double>();
    EXPECT_NEAR(z[b].max().item<double>(), expected, 1e-12);
    EXPECT_NEAR(z[b].min().item<double>(), expected, 1e-12);
  }
}
