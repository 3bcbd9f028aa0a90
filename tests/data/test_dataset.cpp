// open_dataset and training_indices: the trainer's view of the data sets.
#include <gtest/gtest.h>

#include <set>

#include "vdm/core/error.h"
#include "vdm/data/dataset.h"
#include "vdm/data/moving_shapes.h"

namespace vdm::data {
namespace {

TEST(MovingShapesStream, IsAnEndlessDataset) {
  auto data =
      open_dataset("synthetic:moving-shapes", {.frames = 8, .height = 16, .width = 16, .seed = 3});
  EXPECT_FALSE(data->size().has_value());
  EXPECT_EQ(data->clip_shape(), (std::array<int64_t, 3>{8, 16, 16}));
  const auto batch = data->batch({0, 5});
  EXPECT_EQ(batch.frames.sizes(), (std::vector<int64_t>{2, 3, 8, 16, 16}));
  MovingShapesOptions o;
  o.frames = 8, o.height = 16, o.width = 16;
  EXPECT_TRUE(torch::equal(batch.frames[1], MovingShapes(o).train_sample(3, 5).frames));
  EXPECT_THROW(open_dataset("synthetic:bouncing-balls"), Error);
  EXPECT_THROW(open_dataset("moving-shapes"), Error);
}

TEST(MovingShapesStream, TrainingIndicesResumeExactly) {
  EXPECT_EQ(training_indices(std::nullopt, 1, 10, 3), (std::vector<int64_t>{10, 11, 12}));
  // Finite: each epoch a permutation; any split of the positions gives the same sequence.
  const auto all = training_indices(10, 7, 0, 30);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::set<int64_t> seen(all.begin() + epoch * 10, all.begin() + epoch * 10 + 10);
    EXPECT_EQ(seen.size(), 10u);
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), 9);
  }
  EXPECT_NE(std::vector<int64_t>(all.begin(), all.begin() + 10),
            std::vector<int64_t>(all.begin() + 10, all.begin() + 20));
  auto resumed = training_indices(10, 7, 0, 13);
  const auto rest = training_indices(10, 7, 13, 17);
  resumed.insert(resumed.end(), rest.begin(), rest.end());
  EXPECT_EQ(resumed, all);
  EXPECT_NE(training_indices(10, 8, 0, 10), std::vector<int64_t>(all.begin(), all.begin() + 10));
}

}  // namespace
}  // namespace vdm::data
