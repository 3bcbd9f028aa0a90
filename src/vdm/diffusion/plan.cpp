#include "vdm/diffusion/plan.h"

#include <cmath>

#include "vdm/core/error.h"

namespace vdm::diffusion {

void SamplingPlan::validate() const {
  VDM_CHECK(!levels.empty(), "sampling plan has no steps");
  VDM_CHECK(levels.size() == targets.size(), "sampling plan has {} levels but {} targets",
            levels.size(), targets.size());
  for (size_t i = 0; i < levels.size(); ++i) {
    VDM_CHECK(levels[i].sigma > 0, "sampling plan step {}: the model level has sigma = 0", i);
    VDM_CHECK(targets[i].lambda() >= levels[i].lambda(),
              "sampling plan step {}: target log-SNR {} is below the current {}", i,
              targets[i].lambda(), levels[i].lambda());
  }
  VDM_CHECK(init_noise_scale > 0 && std::isfinite(init_noise_scale),
            "sampling plan: init_noise_scale must be > 0, got {}", init_noise_scale);
}

SamplingPlan SamplingPlan::from_step(size_t start) const {
  VDM_CHECK(start < levels.size(), "cannot start at step {} of a {}-step plan", start,
            levels.size());
  SamplingPlan out = *this;
  out.levels.erase(out.levels.begin(), out.levels.begin() + static_cast<std::ptrdiff_t>(start));
  out.targets.erase(out.targets.begin(), out.targets.begin() + static_cast<std::ptrdiff_t>(start));
  return out;
}

SamplingPlan SamplingPlan::with_strength(double strength) const {
  VDM_CHECK(strength > 0 && strength <= 1, "strength must be in (0, 1], got {}", strength);
  const auto n = static_cast<int64_t>(levels.size());
  const int64_t init = std::min(static_cast<int64_t>(static_cast<double>(n) * strength), n);
  VDM_CHECK(init >= 1, "strength {} with {} steps leaves no step to run", strength, n);
  return from_step(static_cast<size_t>(n - init));
}

SamplingPlan chained_plan(std::vector<NoiseLevel> levels, const NoiseLevel& final,
                          std::string description) {
  SamplingPlan plan;
  plan.levels = std::move(levels);
  for (size_t i = 0; i + 1 < plan.levels.size(); ++i) plan.targets.push_back(plan.levels[i + 1]);
  plan.targets.push_back(final);
  plan.description = std::move(description);
  plan.validate();
  return plan;
}

SamplingPlan uniform_time_plan(const Schedule& schedule, int steps, double t_start,
                               double t_end) {
  VDM_CHECK(steps >= 1, "steps must be >= 1, got {}", steps);
  VDM_CHECK(t_start > t_end && t_end >= 0 && t_start <= 1,
            "uniform plan needs 1 >= t_start > t_end >= 0, got {} and {}", t_start, t_end);
  std::vector<NoiseLevel> levels;
  for (int i = 0; i < steps; ++i) {
    levels.push_back(NoiseLevel::at(schedule, t_start + (t_end - t_start) * i / steps));
  }
  const auto final = t_end == 0.0 ? NoiseLevel::clean(schedule.model_time(0.0))
                                  : NoiseLevel::at(schedule, t_end);
  return chained_plan(std::move(levels), final,
                      fmt::format("{} steps uniform in t on {}", steps, schedule.describe()));
}

SamplingPlan uniform_logsnr_plan(const Schedule& schedule, int steps, double t_start,
                                 double t_end) {
  VDM_CHECK(steps >= 1, "steps must be >= 1, got {}", steps);
  const double l0 = schedule.lambda(t_start), l1 = schedule.lambda(t_end);
  VDM_CHECK(std::isfinite(l0) && std::isfinite(l1) && l1 > l0,
            "uniform log-SNR plan needs finite lambda(t_start) < lambda(t_end), got {} and {}",
            l0, l1);
  std::vector<NoiseLevel> levels;
  for (int i = 0; i < steps; ++i) {
    const double lambda = l0 + (l1 - l0) * i / steps;  // exact log-SNR, t recovered from it
    const double t = schedule.t_of_lambda(lambda);
    levels.push_back({t, alpha_of_lambda(lambda), sigma_of_lambda(lambda), schedule.model_time(t)});
  }
  const auto final = t_end == 0.0 ? NoiseLevel::clean(schedule.model_time(0.0))
                                  : NoiseLevel::at(schedule, t_end);
  return chained_plan(std::move(levels), final,
                      fmt::format("{} steps uniform in log-SNR on {}", steps,
                                  schedule.describe()));
}

}  // namespace vdm::diffusion
