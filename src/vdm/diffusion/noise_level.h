// A noise level: where on a schedule a latent z_t sits, with everything a sampler or a model
// needs about it. Samplers walk a list of NoiseLevel (one per step, float64 scalars); a
// denoiser receives a BatchedNoiseLevel (one entry per batch item, so training can draw a
// different t for every item).
//
//   z_t = alpha x + sigma eps                       (seed 1.1)
//   lambda = log(alpha^2 / sigma^2),  phi = arctan(sigma / alpha)   (seed 1.1, 1.3)
//
// `timestep` is the model's own time input, carried beside t so that a diffusers UNet gets
// exactly the timestep diffusers would give it (an integer 0..N-1 for DDIM/DDPM/DPM-Solver,
// a float for EulerDiscreteScheduler's interpolated sigmas); continuous-time models get t.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "vdm/diffusion/schedule.h"

namespace vdm::diffusion {

struct NoiseLevel {
  double t = 0;         // continuous time in [0, 1]
  double alpha = 1;     // signal scale
  double sigma = 0;     // noise scale
  double timestep = 0;  // the model's time input

  double lambda() const { return 2.0 * (std::log(alpha) - std::log(sigma)); }
  double phi() const { return std::atan2(sigma, alpha); }
  // sigma / alpha: the noise level of x_ve = z / alpha in the variance-exploding view (the
  // "sigma" of k-diffusion and of diffusers' Euler/DPM-Solver schedulers).
  double sigma_ve() const { return sigma / alpha; }
  bool is_clean() const { return sigma == 0.0; }

  // The level at time t of a schedule.
  static NoiseLevel at(const Schedule& schedule, double t);
  // A level given by alpha and sigma (t recovered through the schedule's t_of_lambda).
  static NoiseLevel from_alpha_sigma(const Schedule& schedule, double alpha, double sigma,
                                     double timestep);
  // Exactly clean data: alpha = 1, sigma = 0, t = 0.
  static NoiseLevel clean(double timestep = 0) { return {0.0, 1.0, 0.0, timestep}; }
};

// Per-item levels for a batch: each tensor is [B], float64, on the latents' device.
struct BatchedNoiseLevel {
  torch::Tensor t, alpha, sigma, timestep;  // [B]

  int64_t size() const { return alpha.size(0); }
  // The same level for every item.
  static BatchedNoiseLevel broadcast(const NoiseLevel& level, int64_t batch,
                                     const torch::Device& device);
  // Levels at per-item times t [B] (float64) of a schedule.
  static BatchedNoiseLevel at(const Schedule& schedule, const torch::Tensor& t);
  // [B] -> [B, 1, ..., 1] with `ndim` dims in all, in `dtype`, to scale a [B, ...] tensor.
  static torch::Tensor view_as_batch(const torch::Tensor& per_item, int64_t ndim,
                                     torch::Dtype dtype);
  // Items repeated `times` along the batch (for classifier-free guidance's doubled batch).
  BatchedNoiseLevel repeat(int64_t times) const;
};

}  // namespace vdm::diffusion
