// The extension and interpolation scores (eval/conditional.h), checked on real held-out clips:
// a real clip is its own perfect continuation and interpolation, so it must score (almost)
// always when its object does not bounce, and a continuation reversed in time must not.
#include <gtest/gtest.h>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/eval/conditional.h"

namespace vdm::eval {
namespace {

TEST(ConditionalScores, RealClipsContinueAndInterpolateThemselves) {
  data::MovingShapesOptions o;
  o.max_objects = 1;
  data::MovingShapes set(o);
  int64_t clips = 0, continued = 0, reversed_continued = 0, all_between = 0, shuffled_between = 0;
  for (int64_t i = 0; clips < 60; ++i) {
    const auto sample = set.held_out_sample(i);
    if (sample.objects.front().bounced) continue;  // a bounce turns the true motion around
    ++clips;
    const auto s = score_extension(sample.frames, 8, sample.caption);
    EXPECT_TRUE(s.found && s.colour && s.shape) << sample.caption;
    continued += s.direction;
    // The second half replaced by the first half backwards: it moves the other way.
    auto reversed = sample.frames.clone();
    reversed.slice(1, 8, 16).copy_(sample.frames.slice(1, 0, 8).flip(1));
    reversed_continued += score_extension(reversed, 8, sample.caption).direction;

    const auto window = sample.frames.slice(1, 0, 15);  // frames 0, 2, .., 14 given, 1, 3, .., 13 new
    all_between += score_interpolation(window, 2).all_between();
    // New frames taken from far away in time are not between their neighbours.
    auto shuffled = window.clone();
    for (int64_t j = 1; j < 7; j += 2) shuffled.select(1, j).copy_(window.select(1, 14 - j));
    const auto sh = score_interpolation(shuffled, 2);
    shuffled_between += sh.all_between();
  }
  std::printf("real clips: continued %lld/%lld, reversed continued %lld, interpolated %lld, shuffled %lld\n",
              static_cast<long long>(continued), static_cast<long long>(clips),
              static_cast<long long>(reversed_continued), static_cast<long long>(all_between),
              static_cast<long long>(shuffled_between));
  EXPECT_GE(continued, clips * 95 / 100);
  EXPECT_LE(reversed_continued, clips * 5 / 100);
  EXPECT_GE(all_between, clips * 95 / 100);
  EXPECT_LE(shuffled_between, clips * 10 / 100);
}

TEST(ConditionalScores, BadInputsAreErrors) {
  const auto clip = torch::zeros({3, 8, 16, 16});
  EXPECT_THROW(score_extension(clip, 8, "a red circle moving left"), Error);  // nothing new
  EXPECT_THROW(score_extension(clip, 4, ""), Error);
  EXPECT_THROW(score_interpolation(clip, 1), Error);
  const auto s = score_interpolation(clip, 2);  // a blank clip: every new frame misses its object
  EXPECT_EQ(s.new_frames, 3);
  EXPECT_EQ(s.missing, 3);
}

}  // namespace
}  // namespace vdm::eval
