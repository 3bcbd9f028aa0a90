// Noise schedules: alpha_t, sigma_t and the log-SNR lambda_t over continuous time t in [0, 1].
//
//   q(z_t | x) = N(z_t; alpha_t x, sigma_t^2 I),   lambda_t = log(alpha_t^2 / sigma_t^2)
//   (Kingma et al. 2021, "Variational Diffusion Models", arXiv:2107.00630, Eq. 1-3;
//    seed DIGEST.md section 1.1)
//
// Every schedule here is variance preserving (alpha^2 + sigma^2 = 1), so it is fully
// described by lambda(t): alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda). lambda is
// strictly decreasing in t; t_of_lambda is its inverse. All arithmetic is float64.
//
// Two families:
//  * CosineSchedule: continuous t (Nichol & Dhariwal 2021, arXiv:2102.09672, Eq. 17 without
//    the offset), lambda(t) = -2 log tan(pi t / 2), clipped to [logsnr_min, logsnr_max] and
//    shifted by `shift` (Hoogeboom et al. 2023, "simple diffusion", arXiv:2301.11093, Sec. 3.1:
//    shift = 2 log(base_resolution / resolution) for larger images and videos).
//  * DiscreteSchedule: the alphas_cumprod of a diffusers beta schedule over integer timesteps
//    k = 0..N-1, mapped onto continuous t by  t_k = (k + 1) / N  (and t = 0 <-> clean data,
//    alpha = 1). Between grid points log-SNR is interpolated linearly in t; on an interval whose
//    end has infinite log-SNR (t in [0, 1/N], or the last interval after a zero-terminal-SNR
//    rescale) alpha^2 is interpolated linearly instead, so alpha and sigma stay finite and the
//    map stays invertible. The model's own time input at t is the diffusers timestep
//    k = t N - 1 (model_time), which is an integer exactly on the grid.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace vdm::diffusion {

class Schedule {
 public:
  virtual ~Schedule() = default;

  // log(alpha_t^2 / sigma_t^2); +inf at clean data, -inf at pure noise (zero terminal SNR).
  virtual double lambda(double t) const = 0;
  // Inverse of lambda: t_of_lambda(lambda(t)) == t. Accepts +-inf.
  virtual double t_of_lambda(double lambda) const = 0;
  // The time value a network trained on this schedule receives at t (diffusers' integer
  // timestep for discrete schedules, t itself for continuous ones).
  virtual double model_time(double t) const { return t; }
  virtual std::string describe() const = 0;

  // Variance preserving: alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda).
  virtual bool is_variance_preserving() const { return true; }
  double alpha(double t) const;
  double sigma(double t) const;
  // phi_t = arctan(sigma_t / alpha_t), the angle of seed section 1.3.
  double phi(double t) const;
};

// sqrt(sigmoid(lambda)) and sqrt(sigmoid(-lambda)), computed without overflow; exact 0/1 at
// lambda = -inf/+inf.
double alpha_of_lambda(double lambda);
double sigma_of_lambda(double lambda);
// log(a2 / (1 - a2)) from alpha^2 (a2 = alphas_cumprod), +-inf at a2 = 1 / 0.
double lambda_of_alpha2(double a2);

struct CosineOptions {
  double logsnr_min = -15.0;  // lambda(1): alpha_1 ~ 5.5e-4, close enough to pure noise
  double logsnr_max = 15.0;   // lambda(0): sigma_0 ~ 5.5e-4; +inf makes t = 0 exactly clean
  double shift = 0.0;         // added to lambda: 2 log(base / resolution) (simple diffusion)
};

class CosineSchedule final : public Schedule {
 public:
  explicit CosineSchedule(CosineOptions options = {});
  double lambda(double t) const override;
  double t_of_lambda(double lambda) const override;
  std::string describe() const override;
  const CosineOptions& options() const { return options_; }

 private:
  CosineOptions options_;
  double phi_min_, phi_max_;  // arctan(exp(-logsnr_max / 2)), arctan(exp(-logsnr_min / 2))
};

// ---- diffusers beta schedules (scheduling_ddpm.py / scheduling_ddim.py, v0.29) -------------
// Each returns N betas in float64.
std::vector<double> linear_betas(int num_train_timesteps, double beta_start, double beta_end);
// Stable Diffusion: linspace(sqrt(beta_start), sqrt(beta_end), N)^2.
std::vector<double> scaled_linear_betas(int num_train_timesteps, double beta_start,
                                        double beta_end);
// betas_for_alpha_bar with the cosine alpha_bar (Nichol & Dhariwal 2021, Eq. 17, s = 0.008),
// capped at max_beta = 0.999.
std::vector<double> squaredcos_cap_v2_betas(int num_train_timesteps);
// DDPMScheduler's "sigmoid": sigmoid(linspace(-6, 6, N)) (beta_end - beta_start) + beta_start.
std::vector<double> sigmoid_betas(int num_train_timesteps, double beta_start, double beta_end);
// Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
// arXiv:2305.08891, Algorithm 1: shift and scale sqrt(alphas_cumprod) so the last is 0 and the
// first is unchanged.
std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas);
// cumprod(1 - beta).
std::vector<double> alphas_cumprod_of(const std::vector<double>& betas);

class DiscreteSchedule final : public Schedule {
 public:
  // alphas_cumprod[k], k = 0..N-1: in (0, 1], non-increasing; the last may be 0.
  explicit DiscreteSchedule(std::vector<double> alphas_cumprod, std::string name = "discrete");
  static std::shared_ptr<DiscreteSchedule> from_betas(const std::vector<double>& betas,
                                                      std::string name = "discrete");

  double lambda(double t) const override;
  double t_of_lambda(double lambda) const override;
  double model_time(double t) const override;  // k = t N - 1
  std::string describe() const override;

  int num_train_timesteps() const { return static_cast<int>(alphas_cumprod_.size()); }
  const std::vector<double>& alphas_cumprod() const { return alphas_cumprod_; }
  // Continuous time of integer timestep k (k = -1 is clean data).
  double t_of_timestep(double k) const;

 private:
  std::vector<double> alphas_cumprod_;
  std::vector<double> lambdas_;  // lambdas_[j] = lambda at t_j = j / N, j = 0..N (j=0: +inf)
  std::string name_;
};

}  // namespace vdm::diffusion
