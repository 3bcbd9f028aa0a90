// eps / x / v conversions in both forms (issue 3, acceptance 2).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "vdm/diffusion/parameterization.h"

using namespace vdm::diffusion;
using vdm::diffusion::test::max_abs_diff;

TEST(DiffusionParameterization, RoundTripsInAlphaSigmaForm) {
  auto gen = vdm::diffusion::test::cpu_generator(7);
  const auto x = torch::randn({2, 3, 2, 4, 4}, gen, torch::kFloat64);
  const auto eps = torch::randn({2, 3, 2, 4, 4}, gen, torch::kFloat64);
  // VP points and non-VP ones (the formulas hold for any alpha, sigma > 0).
  for (auto [alpha, sigma] : std::vector<std::pair<double, double>>{
           {0.999, std::sqrt(1 - 0.999 * 0.999)}, {0.6, 0.8}, {0.05, std::sqrt(1 - 0.0025)},
           {1.0, 3.0}, {2.0, 0.5}}) {
    const auto z = alpha * x + sigma * eps;
    const auto v = v_from_x_eps(x, eps, alpha, sigma);
    EXPECT_LT(max_abs_diff(v, alpha * eps - sigma * x), 1e-15);
    double worst = 0;
    for (auto from : {Prediction::kEps, Prediction::kX, Prediction::kV}) {
      const auto& out = from == Prediction::kEps ? eps : from == Prediction::kX ? x : v;
      for (auto to : {Prediction::kEps, Prediction::kX, Prediction::kV}) {
        const auto& expected = to == Prediction::kEps ? eps : to == Prediction::kX ? x : v;
        const auto converted = convert_prediction(out, from, to, z, alpha, sigma);
        worst = std::max(worst, max_abs_diff(converted, expected));
        // and back
        worst = std::max(worst, max_abs_diff(convert_prediction(converted, to, from, z, alpha, sigma), out));
      }
      const auto d = denoised_from(out, from, z, alpha, sigma);
      worst = std::max({worst, max_abs_diff(d.x0, x), max_abs_diff(d.eps, eps)});
    }
    std::printf("alpha=%.3f sigma=%.3f: worst round-trip error %.3g\n", alpha, sigma, worst);
    EXPECT_LT(worst, 1e-6);
  }
}

TEST(DiffusionParameterization, AngularFormAgreesWithAlphaSigmaForm) {
  auto gen = vdm::diffusion::test::cpu_generator(8);
  const auto x = torch::randn({4, 2, 3, 3, 3}, gen, torch::kFloat64);
  const auto eps = torch::randn({4, 2, 3, 3, 3}, gen, torch::kFloat64);
  for (double phi : {0.01, 0.3, M_PI / 4, 1.2, M_PI / 2 - 1e-3}) {
    const double alpha = std::cos(phi), sigma = std::sin(phi);
    const auto z = z_from_x_eps_angular(x, eps, phi);
    EXPECT_LT(max_abs_diff(z, alpha * x + sigma * eps), 1e-15);
    const auto v = v_from_x_eps_angular(x, eps, phi);  // v = cos(phi) eps - sin(phi) x
    EXPECT_LT(max_abs_diff(v, v_from_x_eps(x, eps, alpha, sigma)), 1e-15);
    EXPECT_LT(max_abs_diff(x_from_v_angular(z, v, phi), x), 1e-6);
    EXPECT_LT(max_abs_diff(eps_from_v_angular(z, v, phi), eps), 1e-6);
    EXPECT_LT(max_abs_diff(x_from_v_angular(z, v, phi), x_from_v(z, v, alpha, sigma)), 1e-12);
    // v = dz/dphi: central difference of z(phi) = cos(phi) x + sin(phi) eps
    const double h = 1e-6;
    const auto dz = (z_from_x_eps_angular(x, eps, phi + h) - z_from_x_eps_angular(x, eps, phi - h)) / (2 * h);
    EXPECT_LT(max_abs_diff(dz, v), 1e-8);
  }
}

TEST(DiffusionParameterization, BatchedTensorCoefficients) {
  auto gen = vdm::diffusion::test::cpu_generator(9);
  const auto x = torch::randn({3, 2, 1, 2, 2}, gen, torch::kFloat64);
  const auto eps = torch::randn({3, 2, 1, 2, 2}, gen, torch::kFloat64);
  const auto alpha = torch::tensor({0.9, 0.5, 0.1}, torch::kFloat64).view({3, 1, 1, 1, 1});
  const auto sigma = torch::sqrt(1 - alpha * alpha);
  const auto z = alpha * x + sigma * eps;
  const auto v = v_from_x_eps(x, eps, alpha, sigma);
  EXPECT_LT(max_abs_diff(convert_prediction(v, Prediction::kV, Prediction::kX, z, alpha, sigma), x), 1e-12);
  EXPECT_LT(max_abs_diff(x_from_v_angular(z, v, torch::atan2(sigma, alpha)), x), 1e-12);
}

TEST(DiffusionParameterization, ParsesNames) {
  EXPECT_EQ(parse_prediction("epsilon"), Prediction::kEps);
  EXPECT_EQ(parse_prediction("sample"), Prediction::kX);
  EXPECT_EQ(parse_prediction("v_prediction"), Prediction::kV);
  EXPECT_EQ(parse_prediction("v"), Prediction::kV);
  try {
    parse_prediction("flow");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("v_prediction"), std::string::npos);
  }
}
