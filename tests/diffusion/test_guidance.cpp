// Classifier-free guidance (issue 3, acceptance 6).
#include <gtest/gtest.h>

#include "test_util.h"
#include "vdm/diffusion/guidance.h"
#include "vdm/diffusion/sampler.h"

using namespace vdm::diffusion;
using vdm::diffusion::test::max_abs_diff;

namespace {

// pred = 0.5 z + y * (1 + t): a conditional toy model; counts forward calls and batch sizes.
struct ToyConditional : Denoiser {
  int calls = 0;
  std::vector<int64_t> batches;
  torch::Tensor forward(const torch::Tensor& z, const BatchedNoiseLevel& level,
                        const Conditioning& cond) override {
    ++calls;
    batches.push_back(z.size(0));
    const auto y = cond.at("y").view({z.size(0), 1, 1, 1, 1}).to(z.dtype());
    const auto t = BatchedNoiseLevel::view_as_batch(level.t, z.dim(), z.scalar_type());
    return 0.5 * z + y * (1 + t);
  }
  Prediction prediction() const override { return Prediction::kEps; }
};

Conditioning with_y(std::vector<double> values) {
  Conditioning c;
  c.tensors["y"] = torch::tensor(values, torch::kFloat64);
  return c;
}

}  // namespace

TEST(GuidanceCfg, ScaleOneIsTheConditionalPrediction) {
  auto model = std::make_shared<ToyConditional>();
  ClassifierFreeGuidance cfg(model, with_y({-3.0}), {1.0, 0.0});
  const auto z = torch::randn({2, 2, 1, 2, 2}, torch::kFloat64);
  const auto level = BatchedNoiseLevel::broadcast({0.3, 0.8, 0.6, 300}, 2, torch::kCPU);
  const auto cond = with_y({1.0, 2.0});
  const auto guided = cfg.forward(z, level, cond);
  ToyConditional plain;
  EXPECT_TRUE(torch::equal(guided, plain.forward(z, level, cond)));
  EXPECT_EQ(model->calls, 1);
}

TEST(GuidanceCfg, ScaleWIsUncondPlusWTimesDifferenceInOneForward) {
  auto model = std::make_shared<ToyConditional>();
  const auto negative = with_y({-3.0});  // batch 1: repeated to the latents' batch
  const auto z = torch::randn({2, 2, 1, 2, 2}, torch::kFloat64);
  const auto level = BatchedNoiseLevel::broadcast({0.3, 0.8, 0.6, 300}, 2, torch::kCPU);
  const auto cond = with_y({1.0, 2.0});
  ToyConditional plain;
  const auto pred_cond = plain.forward(z, level, cond);
  const auto pred_uncond = plain.forward(z, level, with_y({-3.0, -3.0}));
  for (double w : {0.0, 2.5, 7.5}) {
    model->calls = 0;
    ClassifierFreeGuidance cfg(model, negative, {w, 0.0});
    const auto guided = cfg.forward(z, level, cond);
    EXPECT_LT(max_abs_diff(guided, pred_uncond + w * (pred_cond - pred_uncond)), 1e-12);
    EXPECT_EQ(model->calls, 1);
    EXPECT_EQ(model->batches.back(), 4);  // [uncond; cond] in one batch
  }
}

TEST(GuidanceCfg, OneBatchedForwardPerSamplerStep) {
  auto model = std::make_shared<ToyConditional>();
  auto cfg = ClassifierFreeGuidance(model, with_y({0.0}), {5.0, 0.0});
  const CosineSchedule schedule;
  const auto plan = uniform_time_plan(schedule, 12);
  for (const auto& info : sampler_registry()) {
    model->calls = 0;
    model->batches.clear();
    SamplerOptions options;
    options.generator = vdm::diffusion::test::cpu_generator(1);
    info.fn(cfg, torch::randn({3, 1, 1, 2, 2}), with_y({1, 2, 3}), plan, options);
    EXPECT_EQ(model->calls, 12) << info.name;
    for (auto b : model->batches) EXPECT_EQ(b, 6);
  }
}

TEST(GuidanceCfg, RescaleFollowsDiffusersRescaleNoiseCfg) {
  auto model = std::make_shared<ToyConditional>();
  const auto z = torch::randn({2, 2, 1, 3, 3}, torch::kFloat64);
  const auto level = BatchedNoiseLevel::broadcast({0.3, 0.8, 0.6, 300}, 2, torch::kCPU);
  const auto cond = with_y({1.0, 2.0});
  ToyConditional plain;
  const auto pc = plain.forward(z, level, cond);
  const auto pu = plain.forward(z, level, with_y({-1.0, -1.0}));
  const double w = 6.0, phi = 0.7;
  const auto g = pu + w * (pc - pu);
  // rescale_noise_cfg: std over all non-batch dims (unbiased, as torch.std)
  const auto std_c = pc.view({2, -1}).std(1, true).view({2, 1, 1, 1, 1});
  const auto std_g = g.view({2, -1}).std(1, true).view({2, 1, 1, 1, 1});
  const auto expected = phi * (g * std_c / std_g) + (1 - phi) * g;
  ClassifierFreeGuidance cfg(model, with_y({-1.0}), {w, phi});
  EXPECT_LT(max_abs_diff(cfg.forward(z, level, cond), expected), 1e-12);
  // phi = 1: each item's std equals the conditional prediction's
  ClassifierFreeGuidance full(model, with_y({-1.0}), {w, 1.0});
  const auto out = full.forward(z, level, cond);
  EXPECT_LT(max_abs_diff(out.view({2, -1}).std(1, true), std_c.view({2})), 1e-12);
}
