// Learning rate over training: linear warmup, then cosine decay (Loshchilov & Hutter 2017,
// "SGDR", arXiv:1608.03983, Eq. 5, one cycle without restarts) to a floor.
//
//   lr(s) = peak (s + 1) / W                                      s < W
//   lr(s) = floor + (peak - floor) (1 + cos(pi p)) / 2,   p = (s - W) / max(1, S - 1 - W)
//
// for step s = 0..S-1 (0-based: the rate used by the (s+1)-th update), warmup W, total S,
// floor = peak * final_fraction. Past the last step it stays at the floor.
#pragma once
#include <cstdint>

namespace vdm::train {

struct LrSchedule {
  double peak = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double final_fraction = 0.1;

  double at(int64_t step) const;
};

}  // namespace vdm::train
