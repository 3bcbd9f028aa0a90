// Training losses and the draw of t.
#include <gtest/gtest.h>

#include "test_util.h"
#include "vdm/core/error.h"
#include "vdm/diffusion/gaussian_denoiser.h"
#include "vdm/diffusion/loss.h"

using namespace vdm::diffusion;
using vdm::Error;
using vdm::diffusion::test::cpu_generator;

TEST(DiffusionLoss, ExactModelOfPointMassHasZeroLossInEverySpace) {
  // Data is the constant 0.3; E[x | z_t] = 0.3 exactly, so every space's error is 0.
  AnalyticDenoiser model(GaussianMixture::gaussian(0.3, 0.0), Prediction::kEps);
  const CosineSchedule schedule;
  const auto x = torch::full({8, 2, 2, 3, 3}, 0.3, torch::kFloat64);
  for (auto space : {Prediction::kEps, Prediction::kX, Prediction::kV}) {
    auto gen = cpu_generator(1);
    LossOptions options;
    options.space = space;
    EXPECT_LT(diffusion_loss(model, schedule, x, {}, gen, options).loss.item<double>(), 1e-20);
  }
}

TEST(DiffusionLoss, WeightingGivesTheSameLossInEverySpace) {
  // An imperfect model (wrong data mean): MSE_eps = snr MSE_x and MSE_v = (snr + 1) MSE_x per
  // item, so with the space-corrected weights every space gives the same weighted loss.
  AnalyticDenoiser model(GaussianMixture::gaussian(-0.5, 0.5), Prediction::kV);
  const auto schedule = DiscreteSchedule::from_betas(linear_betas(1000, 1e-4, 0.02));
  auto data_gen = cpu_generator(2);
  const auto x = torch::randn({16, 1, 2, 4, 4}, data_gen, torch::kFloat64) * 0.3 + 0.5;
  for (auto weighting : {LossWeighting::kMinSnr, LossWeighting::kMaxSnr1}) {
    std::vector<torch::Tensor> per_space;
    torch::Tensor snr;
    for (auto space : {Prediction::kX, Prediction::kEps, Prediction::kV}) {
      auto gen = cpu_generator(3);  // same t and eps in every space
      LossOptions options;
      options.space = space;
      options.weighting = weighting;
      auto result = diffusion_loss(model, *schedule, x, {}, gen, options);
      per_space.push_back(result.per_item);
      snr = (result.level.alpha / result.level.sigma).pow(2);
    }
    EXPECT_LT((per_space[1] / per_space[0] - 1).abs().max().item<double>(), 1e-9);
    EXPECT_LT((per_space[2] / per_space[0] - 1).abs().max().item<double>(), 1e-9);
    // min-SNR: w_x = min(snr, 5), checked on the unweighted x-space MSE
    if (weighting == LossWeighting::kMinSnr) {
      auto gen = cpu_generator(3);
      LossOptions plain;
      plain.space = Prediction::kX;
      const auto unweighted = diffusion_loss(model, *schedule, x, {}, gen, plain).per_item;
      EXPECT_LT((per_space[0] - unweighted * torch::clamp_max(snr, 5.0)).abs().max().item<double>(), 1e-12);
    }
  }
}

TEST(DiffusionLoss, TrainingLevelsOnDiscreteScheduleAreIntegerTimesteps) {
  const auto schedule = DiscreteSchedule::from_betas(linear_betas(1000, 1e-4, 0.02));
  auto gen = cpu_generator(4);
  const auto level = sample_training_levels(*schedule, 4096, gen, torch::kCPU);
  const auto k = level.timestep;
  EXPECT_LT((k - k.round()).abs().max().item<double>(), 1e-9);
  EXPECT_GE(k.min().item<double>(), 0);
  EXPECT_LE(k.max().item<double>(), 999);
  EXPECT_NEAR(k.mean().item<double>(), 499.5, 15);  // uniform: sd 288.7 / 64 = 4.5
  const CosineSchedule cosine;
  const auto c = sample_training_levels(cosine, 4096, gen, torch::kCPU);
  EXPECT_NEAR(c.t.mean().item<double>(), 0.5, 0.03);
  EXPECT_LT((c.alpha.pow(2) + c.sigma.pow(2) - 1).abs().max().item<double>(), 1e-12);
}

TEST(DiffusionLoss, TimestepBiasDrawsItsFractionFromItsRange) {
  const CosineSchedule cosine;
  const auto discrete = DiscreteSchedule::from_betas(linear_betas(1000, 1e-4, 0.02));
  const int64_t n = 20000;
  for (const Schedule* schedule : {static_cast<const Schedule*>(&cosine), static_cast<const Schedule*>(discrete.get())}) {
    // All of the batch: every t in the range, spread over all of it.
    auto gen = cpu_generator(5);
    const auto all = sample_training_levels(*schedule, n, gen, torch::kCPU, {1.0, 0.8, 0.95}).t;
    EXPECT_GE(all.min().item<double>(), 0.8 - 1e-12);
    EXPECT_LE(all.max().item<double>(), 0.95 + 1e-12);
    EXPECT_NEAR(all.mean().item<double>(), 0.875, 0.005);  // sd 0.043 / 141
    // Half of it: P(t >= 0.8) = 0.5 + 0.5 * 0.2 and P(t < 0.5) = 0.5 * 0.5.
    const auto half = sample_training_levels(*schedule, n, gen, torch::kCPU, {0.5, 0.8, 1.0}).t;
    EXPECT_NEAR(half.ge(0.8).to(torch::kFloat64).mean().item<double>(), 0.6, 0.015);
    EXPECT_NEAR(half.lt(0.5).to(torch::kFloat64).mean().item<double>(), 0.25, 0.015);
  }
  // A discrete range narrower than one timestep still has one: t = 0.5 exactly.
  auto gen = cpu_generator(6);
  const auto narrow = sample_training_levels(*discrete, 64, gen, torch::kCPU, {1.0, 0.4999, 0.5001}).t;
  EXPECT_LT((narrow - 0.5).abs().max().item<double>(), 1e-12);
}

TEST(DiffusionLoss, TimestepBiasOffDrawsExactlyWhatNoBiasDraws) {
  // Runs from before the option resume with the same random sequence.
  const CosineSchedule cosine;
  auto a = cpu_generator(7), b = cpu_generator(7);
  const auto plain = sample_training_levels(cosine, 32, a, torch::kCPU);
  const auto off = sample_training_levels(cosine, 32, b, torch::kCPU, {0.0, 0.5, 0.9});
  EXPECT_TRUE(torch::equal(plain.t, off.t));
  EXPECT_TRUE(torch::equal(torch::rand({4}, a), torch::rand({4}, b)));
}

TEST(DiffusionLoss, TimestepBiasRejectsBadRanges) {
  const CosineSchedule cosine;
  auto gen = cpu_generator(8);
  for (const TimestepBias bad : {TimestepBias{-0.1, 0, 1}, TimestepBias{1.5, 0, 1}, TimestepBias{0.5, 0.9, 0.8},
                                 TimestepBias{0.5, -0.2, 0.5}, TimestepBias{0.5, 0.5, 1.2}}) {
    EXPECT_THROW(sample_training_levels(cosine, 4, gen, torch::kCPU, bad), Error);
  }
}
