// The loss curve of a run as a PNG (RUN/loss.png), drawn by a tiny rasteriser into a tensor
// and written through FFmpeg's PNG encoder (io/video.h), so no plotting library is needed.
//
// Log-scale loss against step: every logged loss as a light line, a moving average (window
// ~2% of the points) as a dark one, a faint grid at powers of ten, and the axis ranges
// printed in a 3x5 pixel font. Non-finite losses are left out.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vdm::train {

struct LossPlotOptions {
  int64_t width = 640;
  int64_t height = 360;
};

// points: (step, loss). Returns [3, H, W] float32 in [-1, 1] (white background).
torch::Tensor render_loss_plot(const std::vector<std::pair<int64_t, double>>& points,
                               const LossPlotOptions& options = {});

// Writes one image [3, H, W] in [-1, 1] as a PNG file, atomically: io::write_video writes PNG
// frames into a folder, so one frame goes into a temporary folder next to `path` and is
// renamed over it. (A single-image writer would sit better in io/video.h.)
void write_png(const std::string& path, const torch::Tensor& image);

// Renders and writes `path` (.png) with write_png.
void write_loss_plot(const std::string& path, const std::vector<std::pair<int64_t, double>>& points,
                     const LossPlotOptions& options = {});

}  // namespace vdm::train
