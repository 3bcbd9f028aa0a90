// vdm's inference paths on the CPU (vdm/nn/onednn.h) against LibTorch's on the same weights:
// Conv2d's Winograd convolutions, linear layers' oneDNN matrix products, and the feed-forward's
// in-place GEGLU; and the cases that must not take them (autograd, other dtypes, the switch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <tuple>

#include "vdm/nn/attention.h"
#include "vdm/nn/conv2d.h"
#include "vdm/nn/linear.h"
#include "vdm/nn/onednn.h"

namespace vdm::nn {
namespace {

namespace F = torch::nn::functional;

torch::Tensor direct(const Conv2d& conv, const torch::Tensor& x) {
  auto o = F::Conv2dFuncOptions().stride(conv->options.stride()).dilation(conv->options.dilation());
  o.padding(1);
  if (conv->bias.defined()) o.bias(conv->bias);
  return F::conv2d(x, conv->weight, o);
}

// The bound on |winograd - direct|, relative to the direct output's largest magnitude: F(4x4,
// 3x3) in float32 rounds in its input and output transforms; measured 2e-7 to 1.5e-6 here.
constexpr double kRelativeBound = 1e-5;

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

class Winograd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!winograd_available()) GTEST_SKIP() << "this build or CPU has no oneDNN Winograd convolution";
    set_onednn_enabled(true);
  }
  void TearDown() override { set_onednn_enabled(true); }
};

TEST_F(Winograd, MatchesDirectConvolutionOnEveryShape) {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  // N, C_in, C_out, H, W, bias: sizes that are and are not multiples of the 4x4 tile.
  for (const auto& [n, ci, co, h, w, bias] : {std::tuple{1, 3, 8, 16, 16, true}, std::tuple{2, 16, 32, 17, 23, true},
                                              std::tuple{3, 64, 16, 32, 16, false}, std::tuple{1, 40, 24, 64, 5, true}}) {
    Conv2d conv(torch::nn::Conv2dOptions(ci, co, 3).padding(1).bias(bias));
    const auto x = torch::randn({n, ci, h, w});
    const auto y = conv(x);
    EXPECT_TRUE(conv->last_forward_was_winograd());
    const auto ref = direct(conv, x);
    ASSERT_EQ(y.sizes(), ref.sizes());
    const double err = relative_error(y, ref);
    std::printf("[%lldx%lld, %lld->%lld channels] max |winograd - direct| / max |direct| = %.2e\n", static_cast<long long>(h),
                static_cast<long long>(w), static_cast<long long>(ci), static_cast<long long>(co), err);
    EXPECT_LT(err, kRelativeBound) << n << "x" << ci << "->" << co << " " << h << "x" << w;
    // A second call reuses the primitive and the transformed weights: same numbers.
    EXPECT_TRUE(torch::equal(conv(x), y));
  }
}

TEST_F(Winograd, SamePaddingTakesThePathToo) {
  torch::NoGradGuard no_grad;
  Conv2d conv(torch::nn::Conv2dOptions(4, 4, 3).padding(torch::kSame));
  const auto x = torch::randn({1, 4, 16, 16});
  const auto y = conv(x);
  EXPECT_TRUE(conv->last_forward_was_winograd());
  EXPECT_LT(relative_error(y, direct(conv, x)), kRelativeBound);
}

TEST_F(Winograd, FollowsWeightUpdatesAndNewShapes) {
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;
  Conv2d conv(torch::nn::Conv2dOptions(8, 8, 3).padding(1));
  const auto x = torch::randn({2, 8, 16, 16});
  conv(x);
  conv->weight.mul_(-3.0);  // in place: the version counter moves
  EXPECT_LT(relative_error(conv(x), direct(conv, x)), kRelativeBound);
  conv->weight.set_data(torch::randn_like(conv->weight));  // new storage
  EXPECT_LT(relative_error(conv(x), direct(conv, x)), kRelativeBound);
  const auto bigger = torch::randn({3, 8, 20, 24});  // another primitive
  EXPECT_LT(relative_error(conv(bigger), direct(conv, bigger)), kRelativeBound);
  EXPECT_TRUE(conv->last_forward_was_winograd());
  EXPECT_LT(relative_error(conv(x), direct(conv, x)), kRelativeBound);  // and back
}

TEST(Conv2d, GradientsSmallImagesStridesFloat64AndTheSwitchUseLibTorch) {
  torch::manual_seed(2);
  Conv2d conv(torch::nn::Conv2dOptions(8, 8, 3).padding(1));
  const auto x = torch::randn({2, 8, 16, 16});
  {
    // Gradients needed: LibTorch's differentiable convolution, exactly.
    const auto y = conv(x);
    EXPECT_FALSE(conv->last_forward_was_winograd());
    EXPECT_TRUE(y.requires_grad());
    EXPECT_TRUE(torch::equal(y, direct(conv, x)));
  }
  torch::NoGradGuard no_grad;
  const auto small = torch::randn({2, 8, 8, 8});  // below kWinogradMinPixels
  EXPECT_TRUE(torch::equal(conv(small), direct(conv, small)));
  EXPECT_FALSE(conv->last_forward_was_winograd());
  Conv2d strided(torch::nn::Conv2dOptions(8, 8, 3).stride(2).padding(1));
  strided(x);
  EXPECT_FALSE(strided->last_forward_was_winograd());
  Conv2d unpadded(torch::nn::Conv2dOptions(8, 8, 3));
  unpadded(x);
  EXPECT_FALSE(unpadded->last_forward_was_winograd());
  Conv2d pointwise(torch::nn::Conv2dOptions(8, 8, 1));
  pointwise(x);
  EXPECT_FALSE(pointwise->last_forward_was_winograd());
  set_onednn_enabled(false);
  EXPECT_TRUE(torch::equal(conv(x), direct(conv, x)));
  EXPECT_FALSE(conv->last_forward_was_winograd());
  set_onednn_enabled(true);
  conv->to(torch::kFloat64);
  const auto x64 = x.to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(conv(x64), direct(conv, x64)));
  EXPECT_FALSE(conv->last_forward_was_winograd());
}


TEST(FramesConv, MatchesLibTorchsConvolutionOverFrames) {
  torch::manual_seed(5);
  const auto weight = torch::randn({12, 8, 3, 1}) * 0.2, bias = torch::randn({12});
  const auto reference = [&](const torch::Tensor& x, const torch::Tensor& b) {
    return F::conv2d(x, weight, F::Conv2dFuncOptions().bias(b).padding({1, 0}));
  };
  const auto x = torch::randn({2, 8, 5, 300});  // 5 frames of 300 pixels
  {
    torch::NoGradGuard no_grad;
    for (const auto& b : {bias, torch::Tensor()}) {
      const auto before = frames_conv_onednn_count();
      const auto y = frames_conv3x1(x, weight, b);
      EXPECT_EQ(frames_conv_onednn_count(), before + (onednn_built() ? 1 : 0));
      EXPECT_LT(relative_error(y, reference(x, b)), 1e-6);
    }
    // Below kFramesConvMinPixels, or switched off: LibTorch's, exactly.
    const auto before = frames_conv_onednn_count();
    const auto small = torch::randn({2, 8, 5, 64});
    EXPECT_TRUE(torch::equal(frames_conv3x1(small, weight, bias), reference(small, bias)));
    set_onednn_enabled(false);
    EXPECT_TRUE(torch::equal(frames_conv3x1(x, weight, bias), reference(x, bias)));
    set_onednn_enabled(true);
    EXPECT_EQ(frames_conv_onednn_count(), before);
  }
  const auto w = weight.clone().requires_grad_(true);
  const auto y = frames_conv3x1(x, w, bias);  // gradients needed: LibTorch's
  EXPECT_TRUE(y.requires_grad());
  EXPECT_TRUE(torch::equal(y, reference(x, bias)));
}

TEST(OnednnLinear, MatchesLibTorchsProductOnEveryLayout) {
  torch::manual_seed(3);
  torch::nn::Linear with_bias(64, 128), without_bias(torch::nn::LinearOptions(64, 128).bias(false));
  for (auto* layer : {&with_bias, &without_bias}) {
    const auto& l = **layer;
    for (const auto& x : {torch::randn({300, 64}), torch::randn({3, 100, 64}),
                          torch::randn({100, 3, 64}).transpose(0, 1),          // leading dims do not fold
                          torch::randn({3, 100, 128}).narrow(2, 32, 64)}) {  // row stride 128
      torch::Tensor fast, ref;
      {
        torch::NoGradGuard no_grad;
        const auto before = onednn_linear_count();
        fast = linear(l, x);
        EXPECT_EQ(onednn_linear_count(), before + (onednn_built() ? 1 : 0));
      }
      set_onednn_enabled(false);
      {
        torch::NoGradGuard no_grad;
        ref = linear(l, x);
      }
      set_onednn_enabled(true);
      EXPECT_TRUE(torch::equal(ref, at::linear(x, l.weight, l.bias)));  // switched off: LibTorch's, exactly
      ASSERT_EQ(fast.sizes(), ref.sizes());
      EXPECT_LT(relative_error(fast, ref), 1e-6);
    }
  }
  // Gradients needed, or another dtype: LibTorch's, exactly.
  const auto x = torch::randn({300, 64});
  const auto y = linear(with_bias, x);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_TRUE(torch::equal(y, at::linear(x, with_bias->weight, with_bias->bias)));
  torch::NoGradGuard no_grad;
  const auto before = onednn_linear_count();
  with_bias->to(torch::kFloat64);
  const auto x64 = x.to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(linear(with_bias, x64), at::linear(x64, with_bias->weight, with_bias->bias)));
  const auto small = torch::randn({4, 64}, torch::kFloat64).to(torch::kFloat32);
  with_bias->to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(linear(with_bias, small), at::linear(small, with_bias->weight, with_bias->bias)));
  EXPECT_EQ(onednn_linear_count(), before);  // neither float64 nor a product below kOnednnMinFlops
}

TEST(InPlaceGeglu, FeedForwardWithoutAutogradEqualsTheComposition) {
  torch::manual_seed(4);
  FeedForward ff(32);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : ff->parameters()) p.normal_(0.0, 0.2);
  }
  const auto x = torch::randn({2, 700, 32});
  const auto composed = ff(x);  // autograd on: value * gelu(gate), out of place
  ASSERT_TRUE(composed.requires_grad());
  torch::NoGradGuard no_grad;
  const auto in_place = ff(x);
  ASSERT_EQ(in_place.sizes(), composed.sizes());
  EXPECT_LT(relative_error(in_place, composed), 1e-6);
  // The gated half alone, against the formula.
  auto both = at::linear(x, ff->net[0]->as<GEGLU>()->proj->weight, ff->net[0]->as<GEGLU>()->proj->bias);
  auto parts = both.chunk(2, -1);
  EXPECT_LT(relative_error(ff->net[0]->as<GEGLU>()->forward(x), parts[0] * torch::gelu(parts[1])), 1e-6);
}

}  // namespace
}  // namespace vdm::nn
