#include "vdm/diffusion/loss.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"

namespace vdm::diffusion {

LossWeighting parse_loss_weighting(const std::string& name) {
  if (name == "none") return LossWeighting::kNone;
  if (name == "min_snr") return LossWeighting::kMinSnr;
  if (name == "max_snr_1") return LossWeighting::kMaxSnr1;
  throw Error(fmt::format("unknown loss weighting '{}'; expected none, min_snr or max_snr_1",
                          name));
}

torch::Tensor loss_weights(const torch::Tensor& snr, Prediction space,
                           const LossOptions& options) {
  torch::Tensor w_x;  // weight on MSE_x
  switch (options.weighting) {
    case LossWeighting::kNone: return torch::ones_like(snr);
    case LossWeighting::kMinSnr:
      VDM_CHECK(options.min_snr_gamma > 0, "min_snr_gamma must be > 0, got {}",
                options.min_snr_gamma);
      w_x = torch::clamp_max(snr, options.min_snr_gamma);
      break;
    case LossWeighting::kMaxSnr1: w_x = torch::clamp_min(snr, 1.0); break;
  }
  switch (space) {
    case Prediction::kX: return w_x;
    case Prediction::kEps: return w_x / snr;
    case Prediction::kV: return w_x / (snr + 1.0);
  }
  return w_x;
}

void TimestepBias::validate() const {
  VDM_CHECK(fraction >= 0 && fraction <= 1, "timestep bias: fraction must be in [0, 1], got {}", fraction);
  VDM_CHECK(begin >= 0 && begin < end && end <= 1, "timestep bias: need 0 <= begin < end <= 1, got [{}, {}]", begin,
            end);
}

BatchedNoiseLevel sample_training_levels(const Schedule& schedule, int64_t batch,
                                         torch::Generator& generator, const torch::Device& device,
                                         const TimestepBias& bias) {
  bias.validate();
  const auto f64 = torch::dtype(torch::kFloat64);
  torch::Tensor t, biased;
  if (const auto* discrete = dynamic_cast<const DiscreteSchedule*>(&schedule)) {
    const int64_t n = discrete->num_train_timesteps();
    auto k = torch::randint(0, n, {batch}, generator, torch::dtype(torch::kInt64));
    t = (k.to(torch::kFloat64) + 1.0) / static_cast<double>(n);
    if (bias.fraction > 0) {
      // t = (k + 1) / n in [begin, end]; at least one timestep even for a range narrower than 1 / n.
      const auto lo = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(bias.begin * n)) - 1, 0, n - 1);
      const auto hi = std::clamp<int64_t>(static_cast<int64_t>(std::floor(bias.end * n)) - 1, lo, n - 1);
      biased = (torch::randint(lo, hi + 1, {batch}, generator, torch::dtype(torch::kInt64)).to(torch::kFloat64) + 1.0) /
               static_cast<double>(n);
    }
  } else {
    t = torch::rand({batch}, generator, f64);
    if (bias.fraction > 0) biased = bias.begin + (bias.end - bias.begin) * torch::rand({batch}, generator, f64);
  }
  if (biased.defined()) t = torch::where(torch::rand({batch}, generator, f64).lt(bias.fraction), biased, t);
  return BatchedNoiseLevel::at(schedule, t.to(device));
}

LossResult diffusion_loss(Denoiser& model, const Schedule& schedule, const torch::Tensor& x,
                          const Conditioning& cond, torch::Generator& generator,
                          const LossOptions& options) {
  const auto space = options.space.value_or(model.prediction());
  LossResult out;
  out.level = sample_training_levels(schedule, x.size(0), generator, x.device(), options.t_bias);
  const auto eps = draw_noise(x, generator);  // [B, C, F, H, W]
  const auto z = q_sample(x, eps, out.level);
  const auto alpha = BatchedNoiseLevel::view_as_batch(out.level.alpha, x.dim(), x.scalar_type());
  const auto sigma = BatchedNoiseLevel::view_as_batch(out.level.sigma, x.dim(), x.scalar_type());
  const auto pred = convert_prediction(model.forward(z, out.level, cond), model.prediction(),
                                       space, z, alpha, sigma);
  torch::Tensor target;
  switch (space) {
    case Prediction::kEps: target = eps; break;
    case Prediction::kX: target = x; break;
    case Prediction::kV: target = v_from_x_eps(x, eps, alpha, sigma); break;
  }
  std::vector<int64_t> dims(static_cast<size_t>(x.dim() - 1));
  std::iota(dims.begin(), dims.end(), 1);
  const auto mse = (pred - target).pow(2).mean(dims);  // [B]
  const auto snr = (out.level.alpha / out.level.sigma).pow(2);
  out.per_item = mse * loss_weights(snr, space, options).to(mse.scalar_type());
  out.loss = out.per_item.mean();
  return out;
}

}  // namespace vdm::diffusion
