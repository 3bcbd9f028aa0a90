#include "vdm/diffusion/noise_level.h"

#include "vdm/core/error.h"

namespace vdm::diffusion {

NoiseLevel NoiseLevel::at(const Schedule& schedule, double t) {
  const double lambda = schedule.lambda(t);
  return {t, alpha_of_lambda(lambda), sigma_of_lambda(lambda), schedule.model_time(t)};
}

NoiseLevel NoiseLevel::from_alpha_sigma(const Schedule& schedule, double alpha, double sigma,
                                        double timestep) {
  VDM_CHECK(alpha >= 0 && sigma >= 0 && (alpha > 0 || sigma > 0),
            "noise level needs alpha, sigma >= 0 and not both 0, got alpha={}, sigma={}", alpha,
            sigma);
  const double lambda = 2.0 * (std::log(alpha) - std::log(sigma));
  return {schedule.t_of_lambda(lambda), alpha, sigma, timestep};
}

BatchedNoiseLevel BatchedNoiseLevel::broadcast(const NoiseLevel& level, int64_t batch,
                                               const torch::Device& device) {
  auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  return {torch::full({batch}, level.t, options), torch::full({batch}, level.alpha, options),
          torch::full({batch}, level.sigma, options),
          torch::full({batch}, level.timestep, options)};
}

BatchedNoiseLevel BatchedNoiseLevel::at(const Schedule& schedule, const torch::Tensor& t) {
  VDM_CHECK(t.dim() == 1, "per-item times must be [B], got {} dims", t.dim());
  auto t_cpu = t.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t batch = t_cpu.size(0);
  auto alpha = torch::empty({batch}, torch::kFloat64);
  auto sigma = torch::empty({batch}, torch::kFloat64);
  auto timestep = torch::empty({batch}, torch::kFloat64);
  const double* tp = t_cpu.data_ptr<double>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto level = NoiseLevel::at(schedule, tp[b]);
    alpha[b] = level.alpha;
    sigma[b] = level.sigma;
    timestep[b] = level.timestep;
  }
  const auto device = t.device();
  return {t_cpu.to(device), alpha.to(device), sigma.to(device), timestep.to(device)};
}

torch::Tensor BatchedNoiseLevel::view_as_batch(const torch::Tensor& per_item, int64_t ndim,
                                               torch::Dtype dtype) {
  std::vector<int64_t> shape(static_cast<size_t>(ndim), 1);
  shape[0] = per_item.size(0);
  return per_item.to(dtype).view(shape);  // [B, 1, ..., 1]
}

BatchedNoiseLevel BatchedNoiseLevel::repeat(int64_t times) const {
  return {t.repeat({times}), alpha.repeat({times}), sigma.repeat({times}),
          timestep.repeat({times})};
}

}  // namespace vdm::diffusion
