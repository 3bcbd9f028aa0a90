#include "vdm/eval/grid.h"

#include "vdm/core/error.h"

namespace vdm::eval {
namespace {

std::string shape_of(const torch::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

}  // namespace

torch::Tensor make_grid(const torch::Tensor& clips, const GridOptions& o) {
  VDM_CHECK(clips.dim() == 5 && clips.size(1) == 3 && clips.size(0) >= 1 && clips.size(2) >= 1,
            "make_grid: clips must be [B, 3, F, H, W] with B, F >= 1, got {}", shape_of(clips));
  VDM_CHECK(o.columns >= 1 && o.padding >= 0 && o.scale >= 1,
            "make_grid: need columns >= 1, padding >= 0, scale >= 1; got {}, {}, {}", o.columns,
            o.padding, o.scale);
  const int64_t B = clips.size(0), F = clips.size(2);
  const int64_t H = clips.size(3) * o.scale, W = clips.size(4) * o.scale;
  const int64_t columns = std::min(o.columns, F);

  // Evenly spaced frames, first and last included.
  std::vector<int64_t> shown(static_cast<size_t>(columns));
  for (int64_t j = 0; j < columns; ++j)
    shown[static_cast<size_t>(j)] = columns == 1 ? 0 : j * (F - 1) / (columns - 1);
  auto frames = clips.detach()
                    .to(torch::kCPU, torch::kFloat)
                    .index_select(2, torch::tensor(shown, torch::kLong));  // [B, 3, columns, h, w]
  if (o.scale > 1)
    frames = frames.repeat_interleave(o.scale, 3).repeat_interleave(o.scale, 4);  // [B, 3, c, H, W]

  const int64_t p = o.padding;
  auto grid = torch::full({3, B * (H + p) + p, columns * (W + p) + p}, o.pad_value);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < columns; ++j) {
      const int64_t y = p + b * (H + p), x = p + j * (W + p);
      grid.slice(1, y, y + H).slice(2, x, x + W).copy_(frames[b].select(1, j));  // [3, H, W]
    }
  }
  return grid;
}

torch::Tensor make_grid(const std::vector<torch::Tensor>& clips, const GridOptions& options) {
  VDM_CHECK(!clips.empty(), "make_grid: no clips");
  for (size_t i = 0; i < clips.size(); ++i)
    VDM_CHECK(clips[i].dim() == 4 && clips[i].sizes() == clips[0].sizes(),
              "make_grid: clip {} is {}, expected [3, F, H, W] like clip 0 ({})", i,
              shape_of(clips[i]), shape_of(clips[0]));
  return make_grid(torch::stack(clips), options);
}

}  // namespace vdm::eval
