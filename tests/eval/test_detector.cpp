// The analytic detector, checked on the data set it is for: it must read colour, shape and
// direction of held-out moving-shapes clips at least 99% of the time (issue 5, acceptance 2).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/eval/detector.h"
#include "vdm/eval/report.h"

namespace vdm::eval {
namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> out;
  for (int64_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

EvalReport score_held_out(const data::MovingShapesOptions& options, int64_t n,
                          const std::function<torch::Tensor(torch::Tensor)>& perturb = {}) {
  data::MovingShapes set(options);
  const auto batch = set.held_out_batch(range(0, n));
  EvalReport report;
  for (int64_t i = 0; i < n; ++i) {
    auto clip = batch.frames[i];
    if (perturb) clip = perturb(clip);
    const auto det = detect(clip);
    const auto s = score(det, batch.captions[static_cast<size_t>(i)]);
    for (const auto& o : s.objects)
      if (!o.all_correct() || o.stable_fraction < 1)
        std::printf("  held-out %lld: \"%s\" read as %s (stable %.2f)\n", static_cast<long long>(i),
                    batch.captions[static_cast<size_t>(i)].c_str(),
                    det.objects.empty()
                        ? "nothing"
                        : fmt::format("{} {} {}, fill {:.3f}, skew {:.3f}", det.objects[0].colour,
                                      det.objects[0].shape, det.objects[0].direction,
                                      det.objects[0].fill_ratio, det.objects[0].skew)
                              .c_str(),
                    o.stable_fraction);
    report.add(s);
  }
  return report;
}

void print(const char* what, const EvalReport& r) {
  std::printf(
      "%s: colour %.1f%%, shape %.1f%%, direction %.1f%%, present %.1f%%, stable %.1f%% "
      "(%lld objects)\n",
      what, 100 * r.colour_accuracy(), 100 * r.shape_accuracy(), 100 * r.direction_accuracy(),
      100 * r.present_fraction(), 100 * r.stable_fraction(), static_cast<long long>(r.objects()));
}

// Acceptance: 500 held-out single-object clips at the default size (16 frames of 32x32).
TEST(Detector, ReadsHeldOutSingleObjectClips) {
  data::MovingShapesOptions o;
  o.max_objects = 1;
  const auto r = score_held_out(o, 500);
  print("detector on 500 held-out single-object clips (16x32x32)", r);
  EXPECT_GE(r.colour_accuracy(), 0.99);
  EXPECT_GE(r.shape_accuracy(), 0.99);
  EXPECT_GE(r.direction_accuracy(), 0.99);
  EXPECT_GE(r.stable_fraction(), 0.99);
}

// Best effort on two-object clips (the default mix), other sizes and a blurred, noisy copy
// (closer to what a model generates).
TEST(Detector, ReadsOtherSizesMixesAndDegradedClips) {
  data::MovingShapesOptions mix;
  const auto r_mix = score_held_out(mix, 100);
  print("default mix (25% two objects), 100 clips", r_mix);
  EXPECT_GE(r_mix.all_correct(), 0.95);

  for (const auto& [F, H, W] :
       std::vector<std::array<int64_t, 3>>{{8, 24, 24}, {16, 64, 64}, {32, 32, 48}}) {
    data::MovingShapesOptions o;
    o.max_objects = 1, o.frames = F, o.height = H, o.width = W;
    const auto r = score_held_out(o, 50);
    print(fmt::format("{}x{}x{}, 50 clips", F, H, W).c_str(), r);
    EXPECT_GE(r.all_correct(), 0.95);
  }

  data::MovingShapesOptions single;
  single.max_objects = 1;
  auto gen = at::detail::createCPUGenerator(0);
  const auto g = torch::tensor({0.0545, 0.2442, 0.4026, 0.2442, 0.0545});  // Gaussian, sigma 1
  const auto kernel = (g.view({5, 1}) * g.view({1, 5})).view({1, 1, 5, 5}).repeat({3, 1, 1, 1});
  auto degrade = [&](torch::Tensor clip) {     // blur each frame, add noise
    auto frames = clip.permute({1, 0, 2, 3});  // [F, 3, H, W]
    frames = torch::conv2d(torch::replication_pad2d(frames, {2, 2, 2, 2}), kernel, torch::Tensor(),
                           torch::IntArrayRef{1, 1}, torch::IntArrayRef{0, 0},
                           torch::IntArrayRef{1, 1}, /*groups=*/3);
    auto noise = at::normal(0.0, 0.1, frames.sizes(), gen);
    return (frames + noise).clamp(-1, 1).permute({1, 0, 2, 3});  // [3, F, H, W]
  };
  const auto r_degraded = score_held_out(single, 100, degrade);
  print("blurred (sigma 1 px) + noise (sigma 0.1), 100 clips", r_degraded);
  EXPECT_GE(r_degraded.all_correct(), 0.95);
}

TEST(Detector, EmptyAndStaticClips) {
  EXPECT_TRUE(detect(torch::full({3, 8, 32, 32}, -0.8)).objects.empty());

  data::MovingShapesOptions o;
  o.max_objects = 1, o.speed_min = 0, o.speed_max = 0;
  const auto still = data::MovingShapes(o).held_out_sample(0);
  const auto det = detect(still.frames);
  ASSERT_EQ(det.objects.size(), 1u);
  EXPECT_EQ(det.objects[0].direction, "none");
  EXPECT_EQ(det.objects[0].colour, still.objects[0].caption().colour);

  // The object vanishes for the last half: present (and stable) in half the frames.
  auto clip = data::MovingShapes().held_out_sample(1);
  auto frames = clip.frames.clone();
  const auto& bg = clip.background_rgb;
  const auto bg_pm1 = torch::tensor({bg[0], bg[1], bg[2]}).mul(2).sub(1).view({3, 1, 1, 1});
  frames.slice(1, 8).copy_(bg_pm1.expand({3, 8, 32, 32}));  // plain background colour
  const auto half = detect(frames);
  ASSERT_FALSE(half.objects.empty());
  EXPECT_NEAR(half.objects[0].present_fraction(), 0.5, 1e-9);
  EXPECT_NEAR(half.objects[0].stable_fraction(), 0.5, 1e-9);

  EXPECT_THROW(detect(torch::zeros({3, 32, 32})), Error);
  EXPECT_THROW(detect(torch::zeros({4, 2, 32, 32})), Error);
}

}  // namespace
}  // namespace vdm::eval
