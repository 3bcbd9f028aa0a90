// Exponential moving average of a model's weights (Polyak & Juditsky 1992), the weights a
// diffusion model is sampled with (DDPM, Ho et al. 2020, Sec. 4, decay 0.9999; smaller
// here because runs are short):
//
//   ema <- d ema + (1 - d) theta,    d_n = min(decay, (1 + n) / (10 + n))
//
// after the n-th update (n from 0), so the first averages span few steps and a young run's
// EMA is not dominated by its random initialisation. Buffers (not trained) are copied.
// The averages are float32 copies, held on the weights' device.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "vdm/io/safetensors.h"

namespace vdm::train {

class Ema {
 public:
  // `state`: every tensor to track, by name (parameters and buffers); `trained`: the names
  // of those that are averaged (the rest are copied).
  Ema(const io::TensorList& state, const std::vector<std::string>& trained, double decay);

  // Folds the current weights in (after the optimizer's n-th update, n = updates()).
  void update(const io::TensorList& state);
  double decay_at(int64_t n) const;

  const io::TensorList& averages() const { return averages_; }
  int64_t updates() const { return updates_; }
  // Restores averages (same names and shapes) and the update count, e.g. from a checkpoint.
  void load(const io::TensorFile& file, int64_t updates, const std::string& source);

 private:
  io::TensorList averages_;
  std::vector<bool> trained_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace vdm::train
