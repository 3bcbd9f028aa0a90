#include "vdm/diffusion/reconstruction_guidance.h"

#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/parameterization.h"

namespace vdm::diffusion {

Observation Observation::entries(torch::Tensor y, torch::Tensor known) {
  VDM_CHECK(y.defined() && known.defined(), "reconstruction guidance: observation needs y and its known mask");
  VDM_CHECK(known.scalar_type() == torch::kBool, "reconstruction guidance: the known mask must be bool");
  VDM_CHECK(known.dim() == y.dim(), "reconstruction guidance: the known mask has {} dims, y has {}", known.dim(),
            y.dim());
  Observation o;
  o.y = std::move(y);
  o.known = std::move(known);
  return o;
}

Observation Observation::through(std::function<torch::Tensor(const torch::Tensor&)> op, torch::Tensor y) {
  VDM_CHECK(op && y.defined(), "reconstruction guidance: an operator observation needs the operator and y");
  Observation o;
  o.op = std::move(op);
  o.y = std::move(y);
  return o;
}

torch::Tensor Observation::error(const torch::Tensor& x) const {
  const auto residual = op ? y.to(x.scalar_type()) - op(x) : (y.to(x.scalar_type()) - x) * known.to(x.scalar_type());
  return residual.pow(2).flatten(1).sum(1);  // [B]
}

ReconstructionGuidance::ReconstructionGuidance(std::shared_ptr<Denoiser> model, Observation observation,
                                               double weight)
    : model_(std::move(model)), observation_(std::move(observation)), weight_(weight) {
  VDM_CHECK(model_ != nullptr, "reconstruction guidance: no model");
  VDM_CHECK(std::isfinite(weight_) && weight_ >= 0, "reconstruction guidance: the weight w_r must be >= 0, got {}",
            weight_);
}

torch::Tensor ReconstructionGuidance::forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level,
                                              const Conditioning& cond) {
  if (weight_ == 0) {
    const auto out = model_->forward(z_t, level, cond);
    torch::NoGradGuard no_grad;
    const auto alpha = BatchedNoiseLevel::view_as_batch(level.alpha, z_t.dim(), z_t.scalar_type());
    const auto sigma = BatchedNoiseLevel::view_as_batch(level.sigma, z_t.dim(), z_t.scalar_type());
    last_error_ = observation_.error(denoised_from(out, prediction(), z_t, alpha, sigma).x0).mean().item<double>();
    return out;
  }
  // The model once, with autograd on (samplers run under NoGradGuard), through z_t alone.
  torch::AutoGradMode grad_on(true);
  auto z = z_t.detach().requires_grad_(true);
  const auto alpha = BatchedNoiseLevel::view_as_batch(level.alpha, z.dim(), z.scalar_type());
  const auto sigma = BatchedNoiseLevel::view_as_batch(level.sigma, z.dim(), z.scalar_type());
  const auto out = model_->forward(z, level, cond);
  const auto x_hat = denoised_from(out, prediction(), z, alpha, sigma).x0;
  const auto error = observation_.error(x_hat);  // [B]
  auto gradient = torch::autograd::grad({error.sum()}, {z})[0];  // items are independent
  if (observation_.known.defined()) gradient = gradient * observation_.known.logical_not().to(gradient.scalar_type());
  last_error_ = error.mean().item<double>();

  torch::NoGradGuard no_grad;
  const auto x_tilde = x_hat.detach() - (weight_ * 0.5) * alpha * gradient;
  return convert_prediction(x_tilde, Prediction::kX, prediction(), z_t, alpha, sigma);
}

void renoise_known(torch::Tensor& z, const NoiseLevel& level, const Observation& observation,
                   torch::Generator& generator) {
  if (!observation.known.defined()) return;  // an operator observation pins nothing down
  torch::NoGradGuard no_grad;
  const auto y = observation.y.to(z.device(), z.scalar_type()).expand_as(z);
  auto fresh = level.alpha * y;
  if (level.sigma > 0) fresh = fresh + level.sigma * draw_noise(z, generator);
  z = torch::where(observation.known.to(z.device()), fresh, z);
}

StepCallback renoise_known_callback(Observation observation, torch::Generator generator, StepCallback then) {
  return [observation = std::move(observation), generator, then = std::move(then)](const StepInfo& info,
                                                                                   torch::Tensor& z) mutable {
    renoise_known(z, info.to, observation, generator);
    if (then) then(info, z);
  };
}

}  // namespace vdm::diffusion
