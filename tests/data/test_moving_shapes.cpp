// moving-shapes: determinism, disjoint splits, vocabulary coverage, output shapes, and ground
// truth that matches the pixels (the detector's side of "captions match what is drawn" is in
// tests/eval/test_detector.cpp).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <set>
#include <sstream>

#include "vdm/core/error.h"
#include "vdm/data/dataset.h"
#include "vdm/data/moving_shapes.h"

namespace vdm::data {
namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> out;
  for (int64_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

TEST(MovingShapes, SameSeedSameClipBitForBit) {
  MovingShapes set;
  const auto a = set.train_sample(42, 7);
  const auto b = set.train_sample(42, 7);
  EXPECT_TRUE(torch::equal(a.frames, b.frames));
  EXPECT_EQ(a.caption, b.caption);
  // A batch is the same clips as one at a time, whatever the thread count.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto one_thread = set.train_batch(42, range(0, 8));
  torch::set_num_threads(std::max(2, threads));
  const auto many_threads = set.train_batch(42, range(0, 8));
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one_thread.frames, many_threads.frames));
  EXPECT_TRUE(torch::equal(one_thread.frames[7], a.frames));
  EXPECT_EQ(one_thread.captions[7], a.caption);
  EXPECT_EQ(one_thread.captions, many_threads.captions);
}

TEST(MovingShapes, DifferentSeedsAndIndicesDiffer) {
  MovingShapes set;
  const auto base = set.train_sample(1, 0);
  EXPECT_FALSE(torch::equal(base.frames, set.train_sample(2, 0).frames));
  EXPECT_FALSE(torch::equal(base.frames, set.train_sample(1, 1).frames));
}

TEST(MovingShapes, HeldOutSplitIsFixedAndDisjointFromTraining) {
  MovingShapes set;
  EXPECT_TRUE(
      torch::equal(set.held_out_sample(3).frames, MovingShapes().held_out_sample(3).frames));
  // Start positions are continuous draws: any clip shared by the splits would share them.
  std::set<std::array<double, 2>> held_out_starts;
  for (const auto& objects : set.held_out_batch(range(0, 500)).objects)
    held_out_starts.insert(objects[0].centres[0]);
  for (uint64_t seed : {0ull, 1ull, 12345ull}) {
    const auto train = set.train_batch(seed, range(0, 500));
    for (const auto& objects : train.objects)
      EXPECT_EQ(held_out_starts.count(objects[0].centres[0]), 0u);
    EXPECT_FALSE(torch::equal(train.frames[0], set.held_out_sample(0).frames));
  }
}

TEST(MovingShapes, EveryWordAndBackgroundAppears) {
  MovingShapes set;
  const auto batch = set.train_batch(5, range(0, 400));
  std::set<std::string> colours, shapes, directions;
  std::set<int> counts;
  int64_t objects = 0, bounced = 0;
  for (const auto& clip : batch.objects) {
    counts.insert(static_cast<int>(clip.size()));
    for (const auto& o : clip) {
      colours.insert(o.caption().colour), shapes.insert(o.caption().shape);
      directions.insert(o.caption().direction);
      ++objects, bounced += o.bounced;
    }
  }
  EXPECT_EQ(colours.size(), colour_names().size());
  EXPECT_EQ(shapes.size(), shape_names().size());
  EXPECT_EQ(directions.size(), direction_names().size());
  EXPECT_EQ(counts, (std::set<int>{1, 2}));
  // Most clips go straight; a few bounce (the "Motion" note in moving_shapes.h).
  EXPECT_GT(bounced, 0);
  EXPECT_LT(bounced, objects / 8) << bounced << " of " << objects << " objects bounce";

  std::set<BackgroundKind> backgrounds;
  for (int64_t i = 0; i < 100; ++i) backgrounds.insert(set.train_sample(5, i).background);
  EXPECT_EQ(backgrounds.size(), background_names().size());
}

TEST(MovingShapes, OutputShapesForSeveralSizes) {
  for (const auto& [F, H, W] : std::vector<std::array<int64_t, 3>>{
           {1, 8, 8}, {8, 16, 16}, {16, 32, 32}, {24, 48, 64}, {64, 32, 32}}) {
    MovingShapesOptions o;
    o.frames = F, o.height = H, o.width = W;
    MovingShapes set(o);
    const auto batch = set.train_batch(0, {0, 1, 2});
    EXPECT_EQ(batch.frames.sizes(), (std::vector<int64_t>{3, 3, F, H, W}));
    EXPECT_GE(batch.frames.min().item<float>(), -1.f);
    EXPECT_LE(batch.frames.max().item<float>(), 1.f);
    EXPECT_EQ(set.held_out_sample(0).frames.sizes(), (std::vector<int64_t>{3, F, H, W}));
    for (const auto& clip : batch.objects)
      for (const auto& obj : clip) EXPECT_EQ(obj.centres.size(), static_cast<size_t>(F));
  }
}

// The caption is the ground truth's, and the ground truth is what the pixels show: the
// palette colour at each object's centre, objects inside the frame and apart, motion in the
// captioned direction until any bounce.
TEST(MovingShapes, GroundTruthMatchesCaptionAndPixels) {
  MovingShapes set;
  const auto batch = set.held_out_batch(range(0, 200));
  const auto& o = set.options();
  for (size_t b = 0; b < batch.captions.size(); ++b) {
    const auto& objects = batch.objects[b];
    const auto parsed = parse_caption(batch.captions[b]);
    ASSERT_EQ(parsed.size(), objects.size()) << batch.captions[b];
    for (size_t k = 0; k < objects.size(); ++k) {
      const auto& obj = objects[k];
      EXPECT_EQ(parsed[k], obj.caption()) << batch.captions[b];
      const auto rgb = palette()[static_cast<size_t>(obj.colour)].rgb;
      const auto step = direction_step(obj.direction);
      for (int64_t f = 0; f < o.frames; ++f) {
        const auto c = obj.centres[static_cast<size_t>(f)];
        const double r = obj.size / 2;
        ASSERT_GE(c[0] - r, -0.5 - 1e-9);
        ASSERT_LE(c[0] + r, static_cast<double>(o.width) - 0.5 + 1e-9);
        ASSERT_GE(c[1] - r, -0.5 - 1e-9);
        ASSERT_LE(c[1] + r, static_cast<double>(o.height) - 0.5 + 1e-9);
        const auto x = std::lround(c[0]), y = std::lround(c[1]);
        for (int ch = 0; ch < 3; ++ch)
          EXPECT_NEAR(batch.frames[static_cast<int64_t>(b)][ch][f][y][x].item<float>(),
                      2 * rgb[static_cast<size_t>(ch)] - 1, 1e-5)
              << batch.captions[b] << " frame " << f;
        // The first half is straight in the captioned direction for every clip.
        if (f > 0 && f <= (o.frames - 1 + 1) / 2) {
          const auto prev = obj.centres[static_cast<size_t>(f - 1)];
          for (int axis = 0; axis < 2; ++axis) {
            const double d = c[static_cast<size_t>(axis)] - prev[static_cast<size_t>(axis)];
            if (step[static_cast<size_t>(axis)] == 0)
              EXPECT_EQ(d, 0.0);
            else
              EXPECT_GT(d * step[static_cast<size_t>(axis)], 0.0) << batch.captions[b];
          }
        }
      }
    }
    if (objects.size() == 2) {
      EXPECT_NE(objects[0].colour, objects[1].colour);
      const double gap = (objects[0].size + objects[1].size) / 2;
      for (int64_t f = 0; f < o.frames; ++f) {
        const auto a = objects[0].centres[static_cast<size_t>(f)];
        const auto c = objects[1].centres[static_cast<size_t>(f)];
        EXPECT_TRUE(std::abs(a[0] - c[0]) >= gap || std::abs(a[1] - c[1]) >= gap);
      }
    }
  }
}

TEST(MovingShapes, BackgroundsStayAwayFromThePalette) {
  MovingShapesOptions o;
  o.max_objects = 1;
  MovingShapes set(o);
  for (int64_t i = 0; i < 100; ++i) {
    const auto s = set.train_sample(9, i);
    // Frame 0 outside the object's box: every channel <= 0.3, palette colours have one >= 0.9.
    auto bg = (s.frames.select(1, 0) + 1) / 2;  // [3, H, W]
    const auto c = s.objects[0].centres[0];
    const double r = s.objects[0].size / 2 + 1;
    auto mask = torch::ones({o.height, o.width}, torch::kBool);
    mask.slice(0, std::max<int64_t>(0, std::lround(c[1] - r)), std::lround(c[1] + r) + 1)
        .slice(1, std::max<int64_t>(0, std::lround(c[0] - r)), std::lround(c[0] + r) + 1)
        .fill_(false);
    EXPECT_LE(bg.masked_select(mask.unsqueeze(0).expand_as(bg)).max().item<float>(), 0.3f + 1e-6);
  }
}

TEST(MovingShapes, RendersABatchQuickly) {
  MovingShapes set;
  double best_ms = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto batch = set.train_batch(0, range(rep * 16, rep * 16 + 16));
    best_ms = std::min(
        best_ms,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("moving-shapes: 16 clips of 16x32x32 in %.2f ms\n", best_ms);
  EXPECT_LT(best_ms, 50.0);
}

TEST(MovingShapes, RejectsBadOptionsAndIndices) {
  const std::vector<std::function<void(MovingShapesOptions&)>> bad = {
      [](auto& o) { o.frames = 0; },      [](auto& o) { o.height = 4; },
      [](auto& o) { o.max_objects = 3; }, [](auto& o) { o.textured_fraction = 1.5; },
      [](auto& o) { o.size_max = 0.6; },  [](auto& o) { o.speed_min = -1; },
  };
  for (const auto& edit : bad) {
    MovingShapesOptions o;
    edit(o);
    EXPECT_THROW(MovingShapes{o}, Error);
  }
  MovingShapes set;
  EXPECT_THROW(set.train_sample(0, -1), Error);
  EXPECT_THROW(set.held_out_batch({}), Error);
}

}  // namespace
}  // namespace vdm::data
