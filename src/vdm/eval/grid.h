// A picture grid of clips for reports: one row per clip, one column per shown frame.
// Returns the image as a tensor; writing it (PNG through io/video.h) is the caller's job.
//
//   auto grid = vdm::eval::make_grid(samples, {.columns = 8});   // [3, H', W'] in [-1, 1]
//   vdm::io::write_video("grid/", grid.unsqueeze(1));           // grid/frame_00000.png
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace vdm::eval {

struct GridOptions {
  // Frames shown per clip, evenly spaced from the first to the last (all frames when the
  // clip has fewer); 8 shows a 16-frame clip's motion without making the grid too wide.
  int64_t columns = 8;
  int64_t padding = 1;     // pixels between cells and around the border
  double pad_value = 1.0;  // white in [-1, 1], so dark backgrounds stay apart
  int64_t scale = 1;       // nearest-neighbour upscaling of every cell (32x32 is tiny)
};

// clips: [B, 3, F, H, W] in [-1, 1] (any float dtype, any device). Returns [3, H', W'] float32
// on the CPU with H' = B * (H * scale + padding) + padding and
// W' = columns' * (W * scale + padding) + padding, where columns' = min(columns, F).
torch::Tensor make_grid(const torch::Tensor& clips, const GridOptions& options = {});

// The same for clips of one size given one by one, each [3, F, H, W].
torch::Tensor make_grid(const std::vector<torch::Tensor>& clips, const GridOptions& options = {});

}  // namespace vdm::eval
