// Samplers: free functions with one signature (k-diffusion style) over a Denoiser and a
// SamplingPlan. Each works with any parameterization (eps, x, v) and any schedule, runs any
// number of steps, and starts wherever the plan starts (pure noise, or a partially noised
// input for editing: see SamplingPlan::with_strength and q_sample).
//
//   auto plan = uniform_time_plan(schedule, 50);
//   SamplerOptions options;
//   options.generator = torch::make_generator<torch::CPUGeneratorImpl>(seed);
//   auto z = plan.init_noise_scale * draw_noise(torch::empty({1, 4, 8, 32, 32}), *options.generator);
//   auto x = find_sampler("dpmpp_2m").fn(model, z, cond, plan, options);
//
// The registry below is the one table of sampler names: the CLI's help, the docs and the
// "unknown sampler" error all come from it.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vdm/core/progress.h"
#include "vdm/diffusion/denoiser.h"
#include "vdm/diffusion/plan.h"

namespace vdm::diffusion {

// What a per-step callback sees after step `index` (of `count`) moved z from `from` to `to`.
struct StepInfo {
  int64_t index = 0;
  int64_t count = 0;
  const NoiseLevel& from;
  const NoiseLevel& to;
  const torch::Tensor& x0;  // the x prediction used by the step (after x0_transform)
};
// Called after every step with the new latent, which it may replace (e.g. to paste known
// frames back in); previews read x0.
using StepCallback = std::function<void(const StepInfo& info, torch::Tensor& z)>;

// Post-processing of the x prediction (diffusers' clip_sample and dynamic thresholding).
using X0Transform = std::function<torch::Tensor(const torch::Tensor& x0)>;

// DDPM ancestral variance (diffusers' variance_type).
enum class DdpmVariance {
  kPosterior,  // "fixed_small": sigma_q^2 of q(z_s | z_t, x) (Ho et al. 2020, Eq. 7)
  kForward,    // "fixed_large": sigma_{t|s}^2 (Ho et al. 2020, Sec. 3.2, sigma^2 = beta)
};

struct SamplerOptions {
  double eta = 0.0;                         // DDIM: 0 deterministic, 1 = DDPM posterior noise
  std::optional<torch::Generator> generator;  // required by the stochastic samplers
  // k-diffusion's noise_sampler: when set, the stochastic samplers take their N(0, I) draws
  // from it instead of the generator (tests replay a reference implementation's noise).
  std::function<torch::Tensor(const torch::Tensor& like)> noise_sampler;
  X0Transform x0_transform;                 // empty: none
  StepCallback callback;                    // empty: none
  ProgressOptions progress = quiet_progress();  // the CLI turns it on
  std::string progress_label = "sampling";
  DdpmVariance ddpm_variance = DdpmVariance::kPosterior;
  // DPM-Solver++(2M) (diffusers' DPMSolverMultistepScheduler): first-order last step when the
  // plan has fewer than 15 steps (lower_order_final), or always (euler_at_final).
  bool lower_order_final = true;
  bool euler_at_final = false;

  static ProgressOptions quiet_progress() {
    ProgressOptions p;
    p.enabled = false;
    return p;
  }
};

// z: the latent at plan.levels[0], [B, ...]; returns the latent at plan.targets.back().
using SamplerFn = torch::Tensor (*)(Denoiser& model, const torch::Tensor& z,
                                    const Conditioning& cond, const SamplingPlan& plan,
                                    const SamplerOptions& options);

// DDIM (Song et al. 2021, arXiv:2010.02502, Eq. 12 and 16), with eta.
torch::Tensor sample_ddim(Denoiser& model, const torch::Tensor& z, const Conditioning& cond,
                          const SamplingPlan& plan, const SamplerOptions& options);
// Angular DDIM for v: z_s = cos(phi_s - phi_t) z_t + sin(phi_s - phi_t) v_hat (seed 1.3).
torch::Tensor sample_v_ddim(Denoiser& model, const torch::Tensor& z, const Conditioning& cond,
                            const SamplingPlan& plan, const SamplerOptions& options);
// DDPM ancestral sampling (Ho et al. 2020, arXiv:2006.11239, Algorithm 2).
torch::Tensor sample_ddpm(Denoiser& model, const torch::Tensor& z, const Conditioning& cond,
                          const SamplingPlan& plan, const SamplerOptions& options);
// DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095, Algorithm 2).
torch::Tensor sample_dpmpp_2m(Denoiser& model, const torch::Tensor& z, const Conditioning& cond,
                              const SamplingPlan& plan, const SamplerOptions& options);
// Euler on the probability-flow ODE in sigma = sigma_t / alpha_t (Karras et al. 2022,
// arXiv:2206.00364, Algorithm 1 without churn; diffusers' EulerDiscreteScheduler).
torch::Tensor sample_euler(Denoiser& model, const torch::Tensor& z, const Conditioning& cond,
                           const SamplingPlan& plan, const SamplerOptions& options);

struct SamplerInfo {
  std::string name;
  std::string summary;
  SamplerFn fn;
  bool uses_eta;    // reads options.eta
  bool stochastic;  // draws noise (needs options.generator) for some settings
};

const std::vector<SamplerInfo>& sampler_registry();
// Throws vdm::Error naming the valid samplers.
const SamplerInfo& find_sampler(const std::string& name);
// "ddim, v_ddim, ddpm, dpmpp_2m, euler".
std::string sampler_names();

// ---- helpers shared by the samplers ----------------------------------------------------------

// Runs the model at one level for the whole batch and reads its output as x and eps
// (x after options.x0_transform; eps as the model gave it, as diffusers does).
Denoised denoise(Denoiser& model, const torch::Tensor& z, const NoiseLevel& level,
                 const Conditioning& cond, const SamplerOptions& options);

// One N(0, I) draw shaped like `like`: options.noise_sampler if set, else the generator
// (throws naming `sampler` when neither is given).
torch::Tensor sampler_noise(const torch::Tensor& like, const SamplerOptions& options,
                            const char* sampler);

// Progress and the per-step callback around a sampler's loop.
class SamplerLoop {
 public:
  SamplerLoop(const SamplingPlan& plan, const SamplerOptions& options);
  void step_done(size_t i, const torch::Tensor& x0, torch::Tensor& z);
  void finish() { progress_.finish(); }

 private:
  const SamplingPlan& plan_;
  const SamplerOptions& options_;
  Progress progress_;
};

// diffusers' x0 post-processing: clamp to [-range, range] (clip_sample), and dynamic
// thresholding (Saharia et al. 2022, arXiv:2205.11487, Sec. 2.3; diffusers _threshold_sample).
X0Transform clip_x0(double range);
X0Transform dynamic_threshold_x0(double ratio, double max_value);

}  // namespace vdm::diffusion
