// diffusers scheduler_config.json: DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
// and EulerDiscreteScheduler (diffusers v0.29), read with diffusers' semantics.
//
// Every field those classes read is parsed and honoured; a value vdm does not implement
// (e.g. use_karras_sigmas=true, solver_order=3, variance_type="learned") is an error naming
// the field and the supported values, never silently ignored. Fields the class does not read
// (other schedulers' fields, "_class_name", "_diffusers_version") are ignored, as diffusers
// ignores them, and listed in `ignored_fields`.
//
// A config becomes three things: the training schedule (DiscreteSchedule over its
// alphas_cumprod), a SamplingPlan for a number of steps (timesteps, spacing, steps_offset,
// final level and initial noise scale exactly as the class's set_timesteps and step compute
// them) and the sampler settings (default sampler, x0 clipping/thresholding, DDPM variance,
// DPM-Solver's lower-order final step).
//
//   auto config = load_scheduler_config("scheduler/scheduler_config.json");
//   auto schedule = make_schedule(config);
//   auto plan = make_plan(config, 25);
//   SamplerOptions options;  apply_sampler_settings(config, options);
//   auto x = find_sampler(default_sampler(config)).fn(model, z, cond, plan, options);
#pragma once
#include <nlohmann/json.hpp>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vdm/diffusion/parameterization.h"
#include "vdm/diffusion/plan.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/diffusion/schedule.h"

namespace vdm::diffusion {

enum class SchedulerClass { kDDIM, kDDPM, kDPMSolverMultistep, kEulerDiscrete };

struct SchedulerConfig {
  SchedulerClass scheduler_class = SchedulerClass::kDDIM;
  std::string class_name = "DDIMScheduler";
  std::string source;  // file name for messages

  // Common (all four classes).
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::optional<std::vector<double>> trained_betas;
  std::string prediction_type = "epsilon";
  std::string timestep_spacing;  // class default: leading (DDIM, DDPM), linspace (DPM, Euler)
  int steps_offset = 0;
  bool rescale_betas_zero_snr = false;

  // DDIM, DDPM (thresholding also DPM-Solver).
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool set_alpha_to_one = true;  // DDIM
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  std::string variance_type = "fixed_small";  // DDPM; DPM-Solver: must be null

  // DPMSolverMultistepScheduler.
  int solver_order = 2;
  std::string algorithm_type = "dpmsolver++";
  std::string solver_type = "midpoint";
  bool lower_order_final = true;
  bool euler_at_final = false;
  std::string final_sigmas_type = "zero";  // also Euler
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();

  // EulerDiscreteScheduler.
  std::string interpolation_type = "linear";
  std::string timestep_type = "discrete";

  std::vector<std::string> ignored_fields;

  Prediction prediction() const { return parse_prediction(prediction_type); }
};

// Parses a config object. `class_override` replaces "_class_name" (diffusers' from_config on
// another scheduler class); without it, "_class_name" must name one of the four classes.
SchedulerConfig parse_scheduler_config(const nlohmann::ordered_json& json,
                                       const std::string& source,
                                       const std::optional<std::string>& class_override = {});
SchedulerConfig load_scheduler_config(const std::string& path,
                                      const std::optional<std::string>& class_override = {});
// "DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler".
std::string supported_scheduler_classes();

// The betas the config defines (trained_betas, or beta_schedule), zero-SNR rescaled if asked.
std::vector<double> config_betas(const SchedulerConfig& config);
// The training schedule: alphas_cumprod of config_betas.
std::shared_ptr<DiscreteSchedule> make_schedule(const SchedulerConfig& config);

// The class's timesteps for `steps` inference steps (set_timesteps), as doubles (integers
// except EulerDiscreteScheduler's "linspace").
std::vector<double> config_timesteps(const SchedulerConfig& config, int steps);
// The full plan: levels at those timesteps, targets, init_noise_scale.
SamplingPlan make_plan(const SchedulerConfig& config, int steps);

// "ddim", "ddpm", "dpmpp_2m" or "euler".
std::string default_sampler(const SchedulerConfig& config);
// x0 transform (clip_sample / thresholding), DDPM variance, DPM-Solver final-step order.
void apply_sampler_settings(const SchedulerConfig& config, SamplerOptions& options);

}  // namespace vdm::diffusion
