// A sampling plan: the noise levels a sampler visits, noisiest first (k-diffusion's `sigmas`,
// diffusers' `timesteps` + `alphas_cumprod` after set_timesteps).
//
// Step i evaluates the model at levels[i] and moves z from levels[i] to targets[i]. In every
// plan vdm makes, targets[i] == levels[i + 1], except where a diffusers config says otherwise:
// DDIMScheduler and DDPMScheduler step to `timestep - num_train_timesteps // num_steps`,
// which differs from the next timestep under "linspace" spacing. The last target is where
// sampling ends (clean data, or diffusers' set_alpha_to_one=False / final_sigmas_type=
// "sigma_min" level).
#pragma once
#include <string>
#include <vector>

#include "vdm/diffusion/noise_level.h"
#include "vdm/diffusion/schedule.h"

namespace vdm::diffusion {

struct SamplingPlan {
  std::vector<NoiseLevel> levels;   // model evaluated at levels[i]
  std::vector<NoiseLevel> targets;  // step i lands at targets[i]
  // Starting from pure noise, z at levels[0] is init_noise_scale * N(0, I): 1 for DDIM, DDPM
  // and DPM-Solver (diffusers' init_noise_sigma = 1); for EulerDiscreteScheduler diffusers'
  // init_noise_sigma in its sigma / alpha units times alpha of levels[0].
  double init_noise_scale = 1.0;
  std::string description;

  size_t steps() const { return levels.size(); }
  // Throws unless levels and targets pair up and each step moves towards less noise.
  void validate() const;
  // The plan from step `start` on (the first `start` steps dropped).
  SamplingPlan from_step(size_t start) const;
  // For editing (SDEdit, img2img): keep the last min(int(steps * strength), steps) steps, as
  // diffusers' img2img pipelines do (strength 1: all steps, from pure noise).
  SamplingPlan with_strength(double strength) const;
};

// Levels visited in order, each step landing on the next, the last on `final`.
SamplingPlan chained_plan(std::vector<NoiseLevel> levels, const NoiseLevel& final,
                          std::string description = {});

// `steps` levels uniform in t from t_start down to (exclusive) t_end, then t_end. t_end = 0
// means clean data (alpha = 1, sigma = 0) even where the schedule clips log-SNR at t = 0, as
// diffusers' DDIM ends at alpha = 1: sampling returns x, not a slightly noisy z.
SamplingPlan uniform_time_plan(const Schedule& schedule, int steps, double t_start = 1.0,
                               double t_end = 0.0);
// `steps` levels uniform in log-SNR between lambda(t_start) and lambda(t_end) (both finite),
// then t_end (clean data when t_end = 0, as above).
SamplingPlan uniform_logsnr_plan(const Schedule& schedule, int steps, double t_start = 1.0,
                                 double t_end = 0.0);

}  // namespace vdm::diffusion
