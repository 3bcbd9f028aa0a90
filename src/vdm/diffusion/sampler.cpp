#include "vdm/diffusion/sampler.h"

#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"

namespace vdm::diffusion {

const std::vector<SamplerInfo>& sampler_registry() {
  static const std::vector<SamplerInfo> registry = {
      {"ddim", "DDIM (Song et al. 2021); --eta 0 deterministic, 1 ancestral", sample_ddim, true,
       true},
      {"v_ddim", "angular DDIM in phi = arctan(sigma/alpha), deterministic (VP schedules)",
       sample_v_ddim, false, false},
      {"ddpm", "DDPM ancestral sampling (Ho et al. 2020)", sample_ddpm, false, true},
      {"dpmpp_2m", "DPM-Solver++(2M), second order multistep in log-SNR (Lu et al. 2022)",
       sample_dpmpp_2m, false, false},
      {"euler", "Euler on the probability-flow ODE (Karras et al. 2022)", sample_euler, false,
       false},
  };
  return registry;
}

std::string sampler_names() {
  std::string out;
  for (const auto& info : sampler_registry()) out += (out.empty() ? "" : ", ") + info.name;
  return out;
}

const SamplerInfo& find_sampler(const std::string& name) {
  for (const auto& info : sampler_registry()) {
    if (info.name == name) return info;
  }
  throw Error(fmt::format("unknown sampler '{}'; valid samplers: {}", name, sampler_names()));
}

Denoised denoise(Denoiser& model, const torch::Tensor& z, const NoiseLevel& level,
                 const Conditioning& cond, const SamplerOptions& options) {
  VDM_CHECK(level.alpha > 0 || model.prediction() != Prediction::kEps,
            "an eps-prediction model cannot denoise at zero SNR (alpha = 0, t = {}): x = (z - "
            "sigma eps) / alpha is undefined; use a v- or x-prediction model or a schedule "
            "without zero terminal SNR",
            level.t);
  const auto batch = BatchedNoiseLevel::broadcast(level, z.size(0), z.device());
  const auto output = model.forward(z, batch, cond);  // [B, C, F, H, W]
  VDM_CHECK(output.sizes() == z.sizes(), "denoiser returned shape {} for input {}",
            fmt::format("{}", fmt::join(output.sizes(), ",")),
            fmt::format("{}", fmt::join(z.sizes(), ",")));
  auto d = denoised_from(output, model.prediction(), z, level.alpha, level.sigma);
  if (options.x0_transform) d.x0 = options.x0_transform(d.x0);
  return d;
}

torch::Tensor sampler_noise(const torch::Tensor& like, const SamplerOptions& options,
                            const char* sampler) {
  if (options.noise_sampler) {
    auto noise = options.noise_sampler(like);
    VDM_CHECK(noise.sizes() == like.sizes(), "{}: noise_sampler returned the wrong shape", sampler);
    return noise.to(like.options());
  }
  VDM_CHECK(options.generator.has_value(), "{} draws noise and needs a generator", sampler);
  auto generator = *options.generator;  // a handle: draws advance the caller's generator
  return draw_noise(like, generator);
}

SamplerLoop::SamplerLoop(const SamplingPlan& plan, const SamplerOptions& options)
    : plan_(plan),
      options_(options),
      progress_(options.progress_label, static_cast<int64_t>(plan.steps()), options.progress) {
  plan.validate();
}

void SamplerLoop::step_done(size_t i, const torch::Tensor& x0, torch::Tensor& z) {
  if (options_.callback) {
    StepInfo info{static_cast<int64_t>(i), static_cast<int64_t>(plan_.steps()), plan_.levels[i],
                  plan_.targets[i], x0};
    options_.callback(info, z);
  }
  progress_.advance(1);
}

X0Transform clip_x0(double range) {
  VDM_CHECK(range > 0, "clip_sample_range must be > 0, got {}", range);
  return [range](const torch::Tensor& x0) { return x0.clamp(-range, range); };
}

X0Transform dynamic_threshold_x0(double ratio, double max_value) {
  VDM_CHECK(ratio > 0 && ratio <= 1, "dynamic_thresholding_ratio must be in (0, 1], got {}",
            ratio);
  VDM_CHECK(max_value >= 1, "sample_max_value must be >= 1 for thresholding, got {}", max_value);
  return [ratio, max_value](const torch::Tensor& x0) {
    const auto dtype = x0.scalar_type();
    auto flat = x0.reshape({x0.size(0), -1});  // b ... -> b (c f h w)
    if (dtype != torch::kFloat32 && dtype != torch::kFloat64) flat = flat.to(torch::kFloat32);
    // s: the `ratio` quantile of |x0| per item, in [1, max_value]
    auto s = torch::quantile(flat.abs(), ratio, 1).clamp(1.0, max_value).unsqueeze(1);  // [B, 1]
    return (torch::max(torch::min(flat, s), -s) / s).reshape(x0.sizes()).to(dtype);
  };
}

}  // namespace vdm::diffusion
