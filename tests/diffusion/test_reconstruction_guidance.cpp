// Reconstruction guidance (diffusion/reconstruction_guidance.h) on a tiny random 3D U-Net whose
// temporal attention lets the known frames' prediction depend on the unknown frames' latent.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/parameterization.h"
#include "vdm/diffusion/plan.h"
#include "vdm/diffusion/reconstruction_guidance.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/diffusion/schedule.h"
#include "vdm/models/unet3d.h"
#include "vdm/models/unet3d_denoiser.h"

namespace vdm::diffusion {
namespace {

std::shared_ptr<Denoiser> tiny_model(torch::Dtype dtype) {
  auto config = models::UNet3DConfig::tiny();
  config.frame_position = "relative";
  config.prediction = "v";
  torch::manual_seed(11);
  models::UNet3D unet(config);
  torch::NoGradGuard no_grad;
  for (auto& p : unet->parameters()) p.normal_(0.0, 0.15);
  unet->to(dtype);
  unet->eval();
  return std::make_shared<models::UNet3DDenoiser>(unet);
}

struct Setup {
  torch::Tensor z, y, known;
  Conditioning cond;
  BatchedNoiseLevel level;
};

Setup setup(torch::Dtype dtype, double t = 0.5) {
  torch::manual_seed(5);
  const int64_t b = 2, f = 6;
  Setup s;
  s.z = torch::randn({b, 4, f, 8, 8}, dtype);
  s.y = torch::randn({b, 4, f, 8, 8}, dtype).clamp(-1, 1);
  s.known = (torch::arange(f) < 3).view({1, 1, f, 1, 1});  // first 3 frames known: extension
  s.cond.tensors["encoder_hidden_states"] = torch::randn({b, 3, 8}, dtype);
  CosineSchedule schedule;
  s.level = BatchedNoiseLevel::broadcast(NoiseLevel::at(schedule, t), b, torch::kCPU);
  return s;
}

TEST(ReconstructionGuidance, WeightZeroIsThePlainDenoiser) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(torch::kFloat32);
  auto s = setup(torch::kFloat32);
  ReconstructionGuidance guided(model, Observation::entries(s.y, s.known), 0.0);
  EXPECT_TRUE(torch::equal(guided.forward(s.z, s.level, s.cond), model->forward(s.z, s.level, s.cond)));
  EXPECT_GT(guided.last_error(), 0.0);
  EXPECT_THROW(ReconstructionGuidance(model, Observation::entries(s.y, s.known), -1.0), Error);
}

// x~ = x_hat - (w alpha / 2) grad: recover the gradient from the wrapper's output and compare
// it with central differences of || y - x_hat^a(z) ||^2 along random unknown-frame directions.
TEST(ReconstructionGuidance, GradientTermMatchesFiniteDifferences) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(torch::kFloat64);
  auto s = setup(torch::kFloat64);
  const double w = 3.0;
  const auto obs = Observation::entries(s.y, s.known);
  ReconstructionGuidance guided(model, obs, w);
  const auto alpha = BatchedNoiseLevel::view_as_batch(s.level.alpha, 5, torch::kFloat64);
  const auto sigma = BatchedNoiseLevel::view_as_batch(s.level.sigma, 5, torch::kFloat64);
  auto x_of = [&](const torch::Tensor& out, const torch::Tensor& z) {
    return denoised_from(out, Prediction::kV, z, alpha, sigma).x0;
  };
  const auto x_hat = x_of(model->forward(s.z, s.level, s.cond), s.z);
  const auto x_tilde = x_of(guided.forward(s.z, s.level, s.cond), s.z);
  const auto gradient = (x_hat - x_tilde) * 2.0 / (w * alpha);  // zero on the known frames
  EXPECT_LT(gradient.masked_select(s.known.expand_as(gradient)).abs().max().item<double>(), 1e-12);
  ASSERT_GT(gradient.abs().max().item<double>(), 1e-6) << "the known frames do not depend on the others";

  auto error = [&](const torch::Tensor& z) { return obs.error(x_of(model->forward(z, s.level, s.cond), z)); };
  const double h = 1e-5;
  for (int trial = 0; trial < 3; ++trial) {
    auto d = torch::randn_like(s.z) * s.known.logical_not();
    const auto fd = (error(s.z + h * d) - error(s.z - h * d)) / (2 * h);  // [B]
    const auto analytic = (gradient * d).flatten(1).sum(1);               // [B]
    for (int64_t i = 0; i < fd.size(0); ++i) {
      EXPECT_NEAR(analytic[i].item<double>(), fd[i].item<double>(), 1e-6 * std::abs(fd[i].item<double>()) + 1e-9)
          << "trial " << trial << " item " << i;
    }
  }
}

// The known frames of a guided sample are x^a: the last step redraws them from q(z_0 | x^a),
// which is x^a itself. Bound: equal up to float32 rounding (1e-6); the unknown frames differ
// between w_r = 0 (replacement) and w_r > 0 (the correction reaches them).
TEST(ReconstructionGuidance, KnownFramesOfTheSampleAreTheGivenOnes) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(torch::kFloat32);
  auto s = setup(torch::kFloat32);
  CosineSchedule schedule;
  const auto plan = uniform_time_plan(schedule, 6);
  std::vector<torch::Tensor> results;
  for (double w : {0.0, 4.0}) {
    const auto obs = Observation::entries(s.y, s.known);
    auto guided = std::make_shared<ReconstructionGuidance>(model, obs, w);
    SamplerOptions options;
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(3);
    auto z = s.z.clone();
    renoise_known(z, plan.levels.front(), obs, gen);
    options.callback = renoise_known_callback(obs, gen);
    const auto x = find_sampler("ddim").fn(*guided, z, s.cond, plan, options);
    const auto known = s.known.expand_as(x);
    EXPECT_LT((x - s.y).masked_select(known).abs().max().item<double>(), 1e-6) << "w_r " << w;
    results.push_back(x);
  }
  const auto unknown = s.known.logical_not().expand_as(results[0]);
  EXPECT_GT((results[0] - results[1]).masked_select(unknown).abs().max().item<double>(), 1e-3);
}

// An operator observation (a 2x2 average pool: a low-resolution video) pins no entries; the
// correction applies everywhere, and at w_r > 0 the prediction's reconstruction error drops.
TEST(ReconstructionGuidance, OperatorObservationLowersTheReconstructionError) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(torch::kFloat64);
  auto s = setup(torch::kFloat64, 0.3);
  auto pool = [](const torch::Tensor& x) {
    const auto sizes = x.sizes();
    return torch::avg_pool2d(x.flatten(0, 2), 2).view({sizes[0], sizes[1], sizes[2], sizes[3] / 2, sizes[4] / 2});
  };
  const auto obs = Observation::through(pool, pool(s.y));
  ReconstructionGuidance guided(model, obs, 0.5);
  const auto alpha = BatchedNoiseLevel::view_as_batch(s.level.alpha, 5, torch::kFloat64);
  const auto sigma = BatchedNoiseLevel::view_as_batch(s.level.sigma, 5, torch::kFloat64);
  const auto before = obs.error(denoised_from(model->forward(s.z, s.level, s.cond), Prediction::kV, s.z, alpha, sigma).x0);
  const auto after = obs.error(denoised_from(guided.forward(s.z, s.level, s.cond), Prediction::kV, s.z, alpha, sigma).x0);
  EXPECT_NEAR(guided.last_error(), before.mean().item<double>(), 1e-9);
  for (int64_t i = 0; i < before.size(0); ++i) EXPECT_LT(after[i].item<double>(), before[i].item<double>()) << i;
}

}  // namespace
}  // namespace vdm::diffusion
