#include "vdm/diffusion/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "vdm/core/error.h"

namespace vdm::diffusion {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;

std::vector<double> linspace(double start, double end, int n) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = n == 1 ? start : start + (end - start) * i / (n - 1);
  }
  return out;
}

void check_num_train_timesteps(int n) {
  VDM_CHECK(n >= 2, "num_train_timesteps must be >= 2, got {}", n);
}
}  // namespace

// ---- log-SNR <-> alpha, sigma -------------------------------------------------------------

// alpha^2 = sigmoid(lambda) = 1 / (1 + e^-lambda).
double alpha_of_lambda(double lambda) { return std::sqrt(1.0 / (1.0 + std::exp(-lambda))); }
double sigma_of_lambda(double lambda) { return std::sqrt(1.0 / (1.0 + std::exp(lambda))); }
double lambda_of_alpha2(double a2) { return std::log(a2) - std::log1p(-a2); }

double Schedule::alpha(double t) const { return alpha_of_lambda(lambda(t)); }
double Schedule::sigma(double t) const { return sigma_of_lambda(lambda(t)); }
// phi = arctan(sigma / alpha) = arctan(exp(-lambda / 2)) (seed 1.3).
double Schedule::phi(double t) const { return std::atan(std::exp(-0.5 * lambda(t))); }

// ---- cosine ---------------------------------------------------------------------------------

CosineSchedule::CosineSchedule(CosineOptions options) : options_(options) {
  VDM_CHECK(options.logsnr_min < options.logsnr_max,
            "cosine schedule: logsnr_min ({}) must be below logsnr_max ({})", options.logsnr_min,
            options.logsnr_max);
  VDM_CHECK(std::isfinite(options.shift), "cosine schedule: shift must be finite, got {}",
            options.shift);
  // lambda = -2 log tan(phi)  <=>  phi = arctan(exp(-lambda / 2)).
  phi_min_ = std::atan(std::exp(-0.5 * options.logsnr_max));
  phi_max_ = std::atan(std::exp(-0.5 * options.logsnr_min));
}

double CosineSchedule::lambda(double t) const {
  t = std::clamp(t, 0.0, 1.0);
  const double phi = phi_min_ + t * (phi_max_ - phi_min_);
  return -2.0 * std::log(std::tan(phi)) + options_.shift;
}

double CosineSchedule::t_of_lambda(double lambda) const {
  const double phi = std::atan(std::exp(-0.5 * (lambda - options_.shift)));
  return std::clamp((phi - phi_min_) / (phi_max_ - phi_min_), 0.0, 1.0);
}

std::string CosineSchedule::describe() const {
  return fmt::format("cosine(logsnr_min={}, logsnr_max={}, shift={})", options_.logsnr_min,
                     options_.logsnr_max, options_.shift);
}

// ---- diffusers betas ----------------------------------------------------------------------

std::vector<double> linear_betas(int n, double beta_start, double beta_end) {
  check_num_train_timesteps(n);
  return linspace(beta_start, beta_end, n);
}

std::vector<double> scaled_linear_betas(int n, double beta_start, double beta_end) {
  check_num_train_timesteps(n);
  VDM_CHECK(beta_start >= 0 && beta_end >= 0,
            "scaled_linear betas need beta_start, beta_end >= 0, got {}, {}", beta_start,
            beta_end);
  auto betas = linspace(std::sqrt(beta_start), std::sqrt(beta_end), n);
  for (double& b : betas) b *= b;
  return betas;
}

std::vector<double> squaredcos_cap_v2_betas(int n) {
  check_num_train_timesteps(n);
  // alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2  (Nichol & Dhariwal 2021, Eq. 17)
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * kPi / 2.0);
    return c * c;
  };
  constexpr double max_beta = 0.999;
  std::vector<double> betas(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / n, t2 = static_cast<double>(i + 1) / n;
    betas[static_cast<size_t>(i)] = std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), max_beta);
  }
  return betas;
}

std::vector<double> sigmoid_betas(int n, double beta_start, double beta_end) {
  check_num_train_timesteps(n);
  auto betas = linspace(-6.0, 6.0, n);
  for (double& b : betas) b = 1.0 / (1.0 + std::exp(-b)) * (beta_end - beta_start) + beta_start;
  return betas;
}

std::vector<double> alphas_cumprod_of(const std::vector<double>& betas) {
  std::vector<double> out(betas.size());
  double prod = 1.0;
  for (size_t i = 0; i < betas.size(); ++i) {
    VDM_CHECK(betas[i] >= 0.0 && betas[i] <= 1.0 && std::isfinite(betas[i]),
              "beta[{}] = {} is outside [0, 1]", i, betas[i]);
    prod *= 1.0 - betas[i];
    out[i] = prod;
  }
  return out;
}

std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
  // Lin et al. 2024, Algorithm 1.
  const auto alphas_cumprod = alphas_cumprod_of(betas);
  std::vector<double> sqrt_abar(alphas_cumprod.size());
  for (size_t i = 0; i < sqrt_abar.size(); ++i) sqrt_abar[i] = std::sqrt(alphas_cumprod[i]);
  const double first = sqrt_abar.front(), last = sqrt_abar.back();
  VDM_CHECK(first > last, "rescale_betas_zero_snr needs a decreasing alphas_cumprod");
  for (double& s : sqrt_abar) s = (s - last) * first / (first - last);
  std::vector<double> out(betas.size());
  double prev = 1.0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double abar = sqrt_abar[i] * sqrt_abar[i];
    out[i] = 1.0 - abar / prev;  // alphas = abar[i] / abar[i-1]; betas = 1 - alphas
    prev = abar;
  }
  return out;
}

// ---- discrete -----------------------------------------------------------------------------

DiscreteSchedule::DiscreteSchedule(std::vector<double> alphas_cumprod, std::string name)
    : alphas_cumprod_(std::move(alphas_cumprod)), name_(std::move(name)) {
  const size_t n = alphas_cumprod_.size();
  VDM_CHECK(n >= 2, "discrete schedule needs >= 2 timesteps, got {}", n);
  for (size_t k = 0; k < n; ++k) {
    const double a = alphas_cumprod_[k];
    VDM_CHECK(std::isfinite(a) && a >= 0.0 && a < 1.0,
              "alphas_cumprod[{}] = {} is outside [0, 1)", k, a);
    VDM_CHECK(k == 0 || a <= alphas_cumprod_[k - 1],
              "alphas_cumprod must not increase: [{}] = {} > [{}] = {}", k, a, k - 1,
              alphas_cumprod_[k - 1]);
    VDM_CHECK(a > 0.0 || k == n - 1, "alphas_cumprod[{}] = 0 before the last timestep", k);
  }
  lambdas_.resize(n + 1);
  lambdas_[0] = kInf;
  for (size_t k = 0; k < n; ++k) lambdas_[k + 1] = lambda_of_alpha2(alphas_cumprod_[k]);
}

std::shared_ptr<DiscreteSchedule> DiscreteSchedule::from_betas(const std::vector<double>& betas,
                                                                std::string name) {
  return std::make_shared<DiscreteSchedule>(alphas_cumprod_of(betas), std::move(name));
}

// Grid point j (t = j / N) has alpha^2 = A_j: A_0 = 1, A_j = alphas_cumprod[j - 1].
double DiscreteSchedule::lambda(double t) const {
  const int n = num_train_timesteps();
  const double s = std::clamp(t, 0.0, 1.0) * n;
  const int j = std::min(static_cast<int>(std::floor(s)), n - 1);
  const double frac = s - j;
  const double l0 = lambdas_[static_cast<size_t>(j)], l1 = lambdas_[static_cast<size_t>(j) + 1];
  if (frac == 0.0) return l0;
  if (std::isfinite(l0) && std::isfinite(l1)) return l0 + frac * (l1 - l0);
  const double a0 = j == 0 ? 1.0 : alphas_cumprod_[static_cast<size_t>(j) - 1];
  const double a1 = alphas_cumprod_[static_cast<size_t>(j)];
  if (!std::isfinite(l0)) {  // clean end: interpolate sigma^2 = 1 - alpha^2 (no cancellation)
    const double s2 = frac * (1.0 - a1);
    return std::log1p(-s2) - std::log(s2);
  }
  return lambda_of_alpha2(a0 + frac * (a1 - a0));  // zero-SNR end: interpolate alpha^2
}

double DiscreteSchedule::t_of_lambda(double lambda) const {
  const int n = num_train_timesteps();
  if (lambda >= lambdas_[0]) return 0.0;
  if (lambda <= lambdas_[static_cast<size_t>(n)]) return 1.0;
  // First grid index whose lambda is < `lambda` (lambdas_ decreases).
  const auto it = std::upper_bound(lambdas_.begin(), lambdas_.end(), lambda,
                                   [](double value, double element) { return value > element; });
  const int j = static_cast<int>(it - lambdas_.begin()) - 1;  // lambdas_[j] >= lambda > [j+1]
  const double l0 = lambdas_[static_cast<size_t>(j)], l1 = lambdas_[static_cast<size_t>(j) + 1];
  double frac;
  if (std::isfinite(l0) && std::isfinite(l1)) {
    frac = l0 == l1 ? 0.0 : (l0 - lambda) / (l0 - l1);
  } else if (!std::isfinite(l0)) {
    const double a1 = alphas_cumprod_[static_cast<size_t>(j)];
    const double s2 = 1.0 / (1.0 + std::exp(lambda));  // sigma^2 = sigmoid(-lambda)
    frac = s2 / (1.0 - a1);
  } else {
    const double a0 = j == 0 ? 1.0 : alphas_cumprod_[static_cast<size_t>(j) - 1];
    const double a1 = alphas_cumprod_[static_cast<size_t>(j)];
    const double a2 = 1.0 / (1.0 + std::exp(-lambda));
    frac = (a0 - a2) / (a0 - a1);
  }
  return (j + std::clamp(frac, 0.0, 1.0)) / n;
}

double DiscreteSchedule::model_time(double t) const { return t * num_train_timesteps() - 1.0; }
double DiscreteSchedule::t_of_timestep(double k) const {
  return (k + 1.0) / num_train_timesteps();
}

std::string DiscreteSchedule::describe() const {
  return fmt::format("{}(N={}, alphas_cumprod[0]={:.6g}, alphas_cumprod[N-1]={:.6g})", name_,
                     alphas_cumprod_.size(), alphas_cumprod_.front(), alphas_cumprod_.back());
}

}  // namespace vdm::diffusion
