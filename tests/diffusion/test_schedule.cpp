// Closed-form checks of the schedules (issue 3, acceptance 1).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "vdm/core/error.h"
#include "vdm/diffusion/schedule.h"

using namespace vdm::diffusion;

namespace {

struct NamedSchedule {
  std::string name;
  std::shared_ptr<Schedule> schedule;
};

std::vector<NamedSchedule> all_schedules() {
  std::vector<double> trained(50);
  for (size_t i = 0; i < trained.size(); ++i) trained[i] = 0.001 + 0.3 * i / 49.0;
  CosineOptions shifted;
  shifted.shift = 2 * std::log(64.0 / 256.0);
  CosineOptions unclipped;
  unclipped.logsnr_max = std::numeric_limits<double>::infinity();
  return {
      {"cosine", std::make_shared<CosineSchedule>()},
      {"cosine_shifted", std::make_shared<CosineSchedule>(shifted)},
      {"cosine_clean_at_0", std::make_shared<CosineSchedule>(unclipped)},
      {"linear", DiscreteSchedule::from_betas(linear_betas(1000, 1e-4, 0.02))},
      {"scaled_linear", DiscreteSchedule::from_betas(scaled_linear_betas(1000, 0.00085, 0.012))},
      {"squaredcos_cap_v2", DiscreteSchedule::from_betas(squaredcos_cap_v2_betas(1000))},
      {"sigmoid", DiscreteSchedule::from_betas(sigmoid_betas(1000, 1e-4, 0.02))},
      {"linear_zero_snr",
       DiscreteSchedule::from_betas(rescale_zero_terminal_snr(linear_betas(1000, 1e-4, 0.02)))},
      {"scaled_linear_zero_snr", DiscreteSchedule::from_betas(rescale_zero_terminal_snr(
                                     scaled_linear_betas(1000, 0.00085, 0.012)))},
      {"trained_betas", DiscreteSchedule::from_betas(trained)},
  };
}

}  // namespace

TEST(ScheduleClosedForm, VariancePreservingMonotoneAndInvertible) {
  for (const auto& [name, schedule] : all_schedules()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(schedule->is_variance_preserving());
    double prev_lambda = std::numeric_limits<double>::infinity();
    double worst_vp = 0, worst_inverse = 0;
    // 4001 points: every grid point of the 1000-step schedules and 3 points between each.
    for (int i = 0; i <= 4000; ++i) {
      const double t = i / 4000.0;
      const double a = schedule->alpha(t), s = schedule->sigma(t), l = schedule->lambda(t);
      worst_vp = std::max(worst_vp, std::abs(a * a + s * s - 1.0));
      if (i > 0) {
        ASSERT_LT(l, prev_lambda) << "lambda not strictly decreasing at t=" << t;
      }
      prev_lambda = l;
      if (std::isfinite(l)) {
        worst_inverse = std::max(worst_inverse, std::abs(schedule->t_of_lambda(l) - t));
      }
    }
    std::printf("[%s] max |alpha^2+sigma^2-1| = %.3g, max |t(lambda(t)) - t| = %.3g\n",
                name.c_str(), worst_vp, worst_inverse);
    EXPECT_LT(worst_vp, 1e-12);
    EXPECT_LT(worst_inverse, 1e-6);
  }
}

TEST(ScheduleClosedForm, DiscreteGridIsAlphasCumprod) {
  const auto betas = linear_betas(1000, 1e-4, 0.02);
  const auto schedule = DiscreteSchedule::from_betas(betas);
  double abar = 1.0;
  for (int k = 0; k < 1000; ++k) {
    abar *= 1.0 - betas[static_cast<size_t>(k)];
    const double t = schedule->t_of_timestep(k);
    EXPECT_DOUBLE_EQ(t, (k + 1) / 1000.0);
    EXPECT_NEAR(schedule->alpha(t) * schedule->alpha(t), abar, 1e-14);
    EXPECT_NEAR(schedule->model_time(t), k, 1e-9);
  }
  EXPECT_EQ(schedule->lambda(0.0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(schedule->alpha(0.0), 1.0);
  EXPECT_EQ(schedule->sigma(0.0), 0.0);
}

TEST(ScheduleClosedForm, BetaSchedulesMatchDefinitions) {
  const auto linear = linear_betas(11, 0.1, 0.2);
  for (int i = 0; i <= 10; ++i) EXPECT_NEAR(linear[static_cast<size_t>(i)], 0.1 + 0.01 * i, 1e-15);
  const auto scaled = scaled_linear_betas(5, 0.04, 0.16);  // sqrt: 0.2 .. 0.4
  for (int i = 0; i < 5; ++i) {
    const double r = 0.2 + 0.05 * i;
    EXPECT_NEAR(scaled[static_cast<size_t>(i)], r * r, 1e-15);
  }
  // squaredcos_cap_v2: prod(1 - beta) telescopes to alpha_bar(t) / alpha_bar(0) below the cap.
  const auto cos_betas = squaredcos_cap_v2_betas(1000);
  const auto abar = alphas_cumprod_of(cos_betas);
  auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int k : {0, 100, 500, 900}) EXPECT_NEAR(abar[static_cast<size_t>(k)], f((k + 1) / 1000.0) / f(0), 1e-12);
  EXPECT_DOUBLE_EQ(cos_betas.back(), 0.999);  // capped
}

TEST(ScheduleClosedForm, ZeroTerminalSnrRescale) {
  const auto betas = scaled_linear_betas(1000, 0.00085, 0.012);
  const auto before = alphas_cumprod_of(betas);
  const auto after = alphas_cumprod_of(rescale_zero_terminal_snr(betas));
  // sqrt(abar) is mapped affinely so that the first is unchanged and the last is 0.
  const double s0 = std::sqrt(before.front()), sT = std::sqrt(before.back());
  for (size_t k = 0; k < before.size(); ++k) {
    const double expected = (std::sqrt(before[k]) - sT) * s0 / (s0 - sT);
    EXPECT_NEAR(std::sqrt(after[k]), expected, 1e-12);
  }
  EXPECT_NEAR(after.back(), 0.0, 1e-15);
  const DiscreteSchedule schedule(after);
  EXPECT_EQ(schedule.lambda(1.0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(schedule.alpha(1.0), 0.0);
  EXPECT_EQ(schedule.t_of_lambda(-std::numeric_limits<double>::infinity()), 1.0);
}

TEST(ScheduleClosedForm, CosineShiftAddsToLogSnr) {
  CosineOptions base_options;
  base_options.logsnr_min = -20;
  base_options.logsnr_max = 20;
  CosineOptions shifted_options = base_options;
  shifted_options.shift = -1.5;
  const CosineSchedule base(base_options), shifted(shifted_options);
  for (double t : {0.0, 0.1, 0.5, 0.9, 1.0}) {
    EXPECT_NEAR(shifted.lambda(t), base.lambda(t) - 1.5, 1e-12);
  }
  // The unshifted cosine is alpha = cos(pi t / 2) inside the clipping range.
  CosineOptions wide;
  wide.logsnr_min = -std::numeric_limits<double>::infinity();
  wide.logsnr_max = std::numeric_limits<double>::infinity();
  const CosineSchedule pure(wide);
  for (double t : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    EXPECT_NEAR(pure.alpha(t), std::cos(M_PI * t / 2), 1e-12);
    EXPECT_NEAR(pure.phi(t), M_PI * t / 2, 1e-12);
  }
}

TEST(ScheduleClosedForm, RejectsInvalidInput) {
  EXPECT_THROW(DiscreteSchedule({0.9}), vdm::Error);
  EXPECT_THROW(DiscreteSchedule({0.5, 0.9}), vdm::Error);  // increasing
  EXPECT_THROW(linear_betas(1, 0.1, 0.2), vdm::Error);
  CosineOptions bad;
  bad.logsnr_min = 5;
  bad.logsnr_max = 1;
  EXPECT_THROW(CosineSchedule{bad}, vdm::Error);
}
