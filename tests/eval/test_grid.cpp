// make_grid: one row per clip, evenly spaced frames as columns.
#include <gtest/gtest.h>

#include "vdm/core/error.h"
#include "vdm/eval/grid.h"

namespace vdm::eval {
namespace {

TEST(MakeGrid, LaysOutClipsAndFrames) {
  auto clips = torch::zeros({2, 3, 16, 4, 5});
  for (int64_t f = 0; f < 16; ++f) clips.select(2, f).fill_(static_cast<double>(f) / 16);
  clips[1].fill_(-1);
  const auto grid = make_grid(clips, {.columns = 4, .padding = 1, .pad_value = 1.0, .scale = 2});
  // rows: 2 * (4 * 2 + 1) + 1, columns: 4 * (5 * 2 + 1) + 1
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{3, 19, 45}));
  EXPECT_EQ(grid[0][0][0].item<float>(), 1.f);                 // padding
  EXPECT_EQ(grid[0][1][1].item<float>(), 0.f);                 // clip 0, frame 0
  EXPECT_EQ(grid[0][1][1 + 3 * 11].item<float>(), 15.f / 16);  // clip 0, last frame shown
  EXPECT_EQ(grid[2][10][1].item<float>(), -1.f);               // clip 1
  EXPECT_EQ(make_grid(std::vector<torch::Tensor>{clips[0], clips[1]}).sizes(),
            (std::vector<int64_t>{3, 2 * 5 + 1, 8 * 6 + 1}));
  EXPECT_THROW(make_grid(torch::zeros({3, 4, 4})), Error);
  EXPECT_THROW(make_grid(std::vector<torch::Tensor>{clips[0], torch::zeros({3, 2, 4, 5})}), Error);
}

}  // namespace
}  // namespace vdm::eval
