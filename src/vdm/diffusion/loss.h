// Training losses: eps-, x- and v-MSE with SNR weightings, and the draw of t for training.
//
// For one noise level a prediction error dx in x corresponds to dx * (-alpha / sigma) in eps
// and to dx * (-(alpha^2 + sigma^2) / sigma) in v, so (VP) with snr = alpha^2 / sigma^2:
//
//   MSE_eps = snr MSE_x,   MSE_v = (snr + 1) MSE_x                (Kingma et al. 2021, Eq. 14)
//
// A weighting is defined by its weight w_x(snr) on MSE_x; computed in another space the loss
// uses w_x / snr (eps) or w_x / (snr + 1) (v), so the same weighting gives the same loss
// whatever space it is computed in.
//   none:      uniform in the chosen space (the "simple" loss of Ho et al. 2020 for eps)
//   min_snr:   w_x = min(snr, gamma)   (Hang et al. 2023, "Min-SNR", arXiv:2303.09556, Eq. 9)
//   max_snr_1: w_x = max(snr, 1)       ("truncated SNR", Salimans & Ho 2022, Sec. 4)
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "vdm/diffusion/denoiser.h"
#include "vdm/diffusion/schedule.h"

namespace vdm::diffusion {

enum class LossWeighting { kNone, kMinSnr, kMaxSnr1 };
LossWeighting parse_loss_weighting(const std::string& name);  // "none", "min_snr", "max_snr_1"

// Timestep bias, the "range" strategy of diffusers' training scripts
// (--timestep_bias_strategy): a fraction of each batch draws t from [begin, end] instead of
// [0, 1], so a fine-tune spends its steps on the noise levels it must change (t near 1 decides
// layout and motion; t near 0, detail). The rest of the batch keeps the full range.
struct TimestepBias {
  double fraction = 0.0;  // of the batch; 0: off
  double begin = 0.0, end = 1.0;
  void validate() const;  // throws vdm::Error
};

struct LossOptions {
  std::optional<Prediction> space;  // MSE in this parameterization; default: the model's own
  LossWeighting weighting = LossWeighting::kNone;
  double min_snr_gamma = 5.0;  // gamma of Min-SNR (5 in Hang et al. 2023)
  TimestepBias t_bias;
};

// Per-item weights [B] for MSE in `space` at per-item snr [B] (float64).
torch::Tensor loss_weights(const torch::Tensor& snr, Prediction space, const LossOptions& options);

// Per-item noise levels for training: discrete schedules draw the integer timestep k uniformly
// from 0..N-1 (t = (k + 1) / N, as diffusers' training scripts do); continuous ones draw
// t ~ U(0, 1). With a bias, each item then has probability bias.fraction of being redrawn from
// [begin, end] (discrete: the timesteps k with (k + 1) / N in it); with none, no further draws,
// so the sequence of draws is the same as without the option.
BatchedNoiseLevel sample_training_levels(const Schedule& schedule, int64_t batch,
                                         torch::Generator& generator, const torch::Device& device,
                                         const TimestepBias& bias = {});

struct LossResult {
  torch::Tensor loss;      // scalar: mean of per_item
  torch::Tensor per_item;  // [B], weighted MSE
  BatchedNoiseLevel level;
};

// Draws t and eps, noises x (z = alpha x + sigma eps), runs the model, and returns the weighted
// MSE between its prediction and the truth, both in options.space.
LossResult diffusion_loss(Denoiser& model, const Schedule& schedule, const torch::Tensor& x,
                          const Conditioning& cond, torch::Generator& generator,
                          const LossOptions& options = {});

}  // namespace vdm::diffusion
