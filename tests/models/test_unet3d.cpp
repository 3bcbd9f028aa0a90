// Invariants of the factorized 3D U-Net (VDM, Sec. 3): spatial layers act on each frame alone,
// temporal layers mix frames, image items are isolated, shapes are preserved, every parameter
// learns, and checkpoints round-trip exactly.
#include <gtest/gtest.h>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/checkpoint.h"
#include "vdm/models/unet3d.h"
#include "vdm/models/weights.h"

namespace {

using vdm::models::UNet3D;
using vdm::models::UNet3DConfig;
using vdm::models::UNet3DForwardOptions;

// Random weights everywhere (the zero-initialised temporal convs included), so every path
// shows in the output.
UNet3D random_unet(UNet3DConfig config, uint64_t seed = 0) {
  torch::manual_seed(seed);
  UNet3D unet(config);
  torch::NoGradGuard no_grad;
  for (auto& p : unet->parameters()) p.normal_(0.0, 0.15);
  unet->eval();
  return unet;
}

UNet3DConfig relative_config() {
  auto c = UNet3DConfig::tiny();
  c.frame_position = "relative";
  return c;
}

struct Inputs {
  torch::Tensor x, t, ctx;
};

Inputs inputs(const UNet3DConfig& c, int64_t b, int64_t f, int64_t h, int64_t w, uint64_t seed = 1) {
  torch::manual_seed(seed);
  return {torch::randn({b, c.in_channels, f, h, w}), torch::tensor({250.0, 700.0}).slice(0, 0, b),
          torch::randn({b, 3, c.cross_attention_dim})};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(UNet3D, SpatialLayersCommuteWithFramePermutationTemporalLayersDoNot) {
  torch::NoGradGuard no_grad;
  auto unet = random_unet(relative_config());
  auto in = inputs(unet->config(), 2, 5, 8, 8);
  auto perm = torch::tensor({3, 0, 4, 1, 2});
  auto permuted = in.x.index_select(2, perm);
  UNet3DForwardOptions spatial_only;
  spatial_only.temporal = false;
  auto a = unet->forward(in.x, in.t, in.ctx, spatial_only).index_select(2, perm);
  auto b = unet->forward(permuted, in.t, in.ctx, spatial_only);
  EXPECT_LT(max_diff(a, b), 1e-5);
  auto c = unet->forward(in.x, in.t, in.ctx).index_select(2, perm);
  auto d = unet->forward(permuted, in.t, in.ctx);
  EXPECT_GT(max_diff(c, d), 1e-3) << "temporal layers ignored frame order";
}

TEST(UNet3D, WithoutTemporalLayersItIsTheImageModelFrameByFrame) {
  torch::NoGradGuard no_grad;
  auto unet = random_unet(UNet3DConfig::tiny());
  auto in = inputs(unet->config(), 2, 4, 8, 8);
  UNet3DForwardOptions spatial_only;
  spatial_only.temporal = false;
  auto video = unet->forward(in.x, in.t, in.ctx, spatial_only);
  for (int64_t f = 0; f < 4; ++f) {
    auto frame = in.x.slice(2, f, f + 1);  // a 1-frame video: an image
    auto image = unet->forward(frame, in.t, in.ctx, spatial_only);
    EXPECT_LT(max_diff(image, video.slice(2, f, f + 1)), 1e-5) << "frame " << f;
  }
}

TEST(UNet3D, ImageItemsAreUnaffectedByOtherFrames) {
  torch::NoGradGuard no_grad;
  auto unet = random_unet(relative_config());
  auto in = inputs(unet->config(), 2, 4, 8, 8);
  UNet3DForwardOptions opt;
  opt.is_image = torch::tensor({true, false});
  auto out = unet->forward(in.x, in.t, in.ctx, opt);
  auto changed = in.x.clone();
  changed.slice(2, 1, 4).normal_();  // new content in frames 1..3 of both items
  auto out2 = unet->forward(changed, in.t, in.ctx, opt);
  // The image item's frame 0 is untouched; the video item's frame 0 sees the change.
  EXPECT_LT(max_diff(out[0].slice(1, 0, 1), out2[0].slice(1, 0, 1)), 1e-5);
  EXPECT_GT(max_diff(out[1].slice(1, 0, 1), out2[1].slice(1, 0, 1)), 1e-3);
  // And each image frame equals that frame run alone without temporal layers... through the
  // spatial path plus self-only temporal attention: run frame 0 alone as an image item.
  UNet3DForwardOptions single;
  single.is_image = torch::tensor({true});
  auto alone = unet->forward(in.x.slice(0, 0, 1).slice(2, 0, 1), in.t.slice(0, 0, 1), in.ctx.slice(0, 0, 1), single);
  EXPECT_LT(max_diff(alone[0], out[0].slice(1, 0, 1)), 1e-5);
}

TEST(UNet3D, OutputShapeEqualsInputShapeAndBadShapesAreErrors) {
  torch::NoGradGuard no_grad;
  auto unet = random_unet(UNet3DConfig::tiny());
  const auto& c = unet->config();
  for (int64_t f : {1, 2, 5}) {
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {8, 8}, {13, 6}}) {
      auto in = inputs(c, 1, f, h, w);
      auto out = unet->forward(in.x, in.t, in.ctx);
      EXPECT_EQ(out.sizes(), in.x.sizes()) << f << "x" << h << "x" << w;
    }
  }
  auto in = inputs(c, 1, 2, 8, 8);
  EXPECT_THROW(unet->forward(torch::randn({1, 3, 2, 8, 8}), in.t, in.ctx), vdm::Error);   // channels
  EXPECT_THROW(unet->forward(torch::randn({1, 4, 8, 8}), in.t, in.ctx), vdm::Error);      // rank
  EXPECT_THROW(unet->forward(torch::randn({1, 4, 0, 8, 8}), in.t, in.ctx), vdm::Error);   // no frames
  EXPECT_THROW(unet->forward(in.x, in.t, torch::randn({1, 3, 5})), vdm::Error);           // text width
  EXPECT_THROW(unet->forward(in.x, in.t, {}), vdm::Error);                                // no text
  EXPECT_THROW(unet->forward(in.x, torch::tensor({1.0, 2.0, 3.0}), in.ctx), vdm::Error);  // timesteps
}

TEST(UNet3D, GradientsReachEveryParameter) {
  auto unet = random_unet(relative_config());
  unet->train();
  auto in = inputs(unet->config(), 2, 3, 8, 8);
  UNet3DForwardOptions opt;
  opt.is_image = torch::tensor({false, false});
  unet->forward(in.x, in.t, in.ctx, opt).pow(2).mean().backward();
  for (const auto& p : unet->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(UNet3D, CheckpointRoundTripIsBitIdentical) {
  vdm::test::TempDir dir;
  torch::NoGradGuard no_grad;
  auto unet = random_unet(relative_config(), 3);
  vdm::models::save_unet3d(dir.file("unet.safetensors"), unet);
  auto loaded = vdm::models::load_unet3d(dir.file("unet.safetensors"));
  loaded->eval();
  EXPECT_EQ(loaded->config().to_json(), unet->config().to_json());
  auto in = inputs(unet->config(), 2, 3, 8, 8);
  EXPECT_TRUE(torch::equal(unet->forward(in.x, in.t, in.ctx), loaded->forward(in.x, in.t, in.ctx)));
}

TEST(UNet3D, ConfigRejectsImpossibleSettings) {
  auto c = UNet3DConfig::tiny();
  c.block_out_channels = {8, 10};  // 10 is not a multiple of 4 groups
  EXPECT_THROW(c.validate(), vdm::Error);
  c = UNet3DConfig::tiny();
  c.frame_position = "absolute";
  EXPECT_THROW(c.validate(), vdm::Error);
  auto j = UNet3DConfig::tiny().to_json();
  j["layers_per_blok"] = 2;  // typo: unknown fields are errors, not silently ignored
  EXPECT_THROW(UNet3DConfig::from_json(j), vdm::Error);
  EXPECT_EQ(UNet3DConfig::from_json(UNet3DConfig::tiny().to_json()).to_json(), UNet3DConfig::tiny().to_json());
}

}  // namespace

namespace {

// Checkpointing changes memory, not math: the same loss and the same gradients.
TEST(UNet3D, GradientCheckpointingGivesTheSameGradients) {
  auto config = relative_config();
  config.dropout = 0.1;  // random masks must be replayed on recompute
  auto grads = [&](bool checkpointing) {
    auto unet = random_unet(config, 5);
    unet->train();
    auto in = inputs(unet->config(), 2, 3, 8, 8);
    auto ctx = in.ctx.clone().requires_grad_(true);
    UNet3DForwardOptions opt;
    opt.gradient_checkpointing = checkpointing;
    torch::manual_seed(11);
    auto loss = unet->forward(in.x, in.t, ctx, opt).pow(2).mean();
    loss.backward();
    std::vector<torch::Tensor> g = {loss.detach(), ctx.grad()};
    for (const auto& p : unet->parameters()) g.push_back(p.grad());
    return g;
  };
  auto plain = grads(false), recomputed = grads(true);
  ASSERT_EQ(plain.size(), recomputed.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_TRUE(recomputed[i].defined()) << i;
    EXPECT_LT((plain[i] - recomputed[i]).abs().max().item<double>(), 1e-6) << "tensor " << i;
  }
}

}  // namespace

namespace {

// GPU: the same model on CUDA (f32, then bf16 and f16) agrees with the CPU. Skipped where no
// CUDA device is visible (the CPU build, CI).
TEST(UNet3DCuda, MatchesCpuInEveryDtype) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::NoGradGuard no_grad;
  auto unet = random_unet(relative_config());
  auto in = inputs(unet->config(), 2, 4, 8, 8);
  auto cpu = unet->forward(in.x, in.t, in.ctx);
  const torch::Device cuda(torch::kCUDA, 0);
  for (auto [dtype, tol] : std::vector<std::pair<torch::Dtype, double>>{
           {torch::kFloat32, 1e-4}, {torch::kBFloat16, 0.1}, {torch::kFloat16, 0.05}}) {
    unet->to(cuda, dtype);
    auto out = unet->forward(in.x.to(cuda), in.t.to(cuda), in.ctx.to(cuda)).to(torch::kCPU, torch::kFloat32);
    EXPECT_LT(max_diff(out, cpu), tol * cpu.abs().max().item<double>()) << c10::toString(dtype);
  }
}

}  // namespace
