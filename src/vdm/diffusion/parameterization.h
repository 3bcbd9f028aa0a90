// What a denoiser predicts, and the conversions between eps, x and v.
//
// With z = alpha x + sigma eps (seed 1.1) and v = alpha eps - sigma x (Salimans & Ho 2022,
// "Progressive Distillation", arXiv:2202.00512, Sec. 4 and Appendix D; seed 1.3):
//
//   eps -> x:  x   = (z - sigma eps) / alpha
//   x -> eps:  eps = (z - alpha x) / sigma
//   v -> x:    x   = (alpha z - sigma v) / (alpha^2 + sigma^2)
//   v -> eps:  eps = (sigma z + alpha v) / (alpha^2 + sigma^2)
//
// (the denominators are 1 for a variance-preserving schedule; they are kept so the formulas
// hold for any alpha, sigma). Angular form for VP schedules, phi = arctan(sigma / alpha):
//
//   z = cos(phi) x + sin(phi) eps,   v = cos(phi) eps - sin(phi) x
//   x = cos(phi) z - sin(phi) v,     eps = sin(phi) z + cos(phi) v
//
// alpha, sigma (and phi) may be doubles or tensors broadcastable against z ([B, 1, 1, 1, 1]).
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <string>

namespace vdm::diffusion {

// Enum names follow what the model outputs (DiT's EPSILON / START_X, diffusers'
// "epsilon" / "sample" / "v_prediction").
enum class Prediction { kEps, kX, kV };

// "eps", "x", "v".
std::string prediction_name(Prediction prediction);
// Accepts vdm's names and diffusers' ("epsilon", "sample", "v_prediction"); throws listing them.
Prediction parse_prediction(const std::string& name);

// ---- alpha/sigma form ----------------------------------------------------------------------
template <class S>
torch::Tensor x_from_eps(const torch::Tensor& z, const torch::Tensor& eps, S alpha, S sigma) {
  return (z - sigma * eps) / alpha;
}
template <class S>
torch::Tensor eps_from_x(const torch::Tensor& z, const torch::Tensor& x, S alpha, S sigma) {
  return (z - alpha * x) / sigma;
}
template <class S>
torch::Tensor x_from_v(const torch::Tensor& z, const torch::Tensor& v, S alpha, S sigma) {
  return (alpha * z - sigma * v) / (alpha * alpha + sigma * sigma);
}
template <class S>
torch::Tensor eps_from_v(const torch::Tensor& z, const torch::Tensor& v, S alpha, S sigma) {
  return (sigma * z + alpha * v) / (alpha * alpha + sigma * sigma);
}
template <class S>
torch::Tensor v_from_x_eps(const torch::Tensor& x, const torch::Tensor& eps, S alpha, S sigma) {
  return alpha * eps - sigma * x;
}

// ---- angular form (VP) ---------------------------------------------------------------------
inline double cos_of(double phi) { return std::cos(phi); }
inline double sin_of(double phi) { return std::sin(phi); }
inline torch::Tensor cos_of(const torch::Tensor& phi) { return torch::cos(phi); }
inline torch::Tensor sin_of(const torch::Tensor& phi) { return torch::sin(phi); }
template <class S>
torch::Tensor x_from_v_angular(const torch::Tensor& z, const torch::Tensor& v, S phi) {
  return cos_of(phi) * z - sin_of(phi) * v;
}
template <class S>
torch::Tensor eps_from_v_angular(const torch::Tensor& z, const torch::Tensor& v, S phi) {
  return sin_of(phi) * z + cos_of(phi) * v;
}
template <class S>
torch::Tensor v_from_x_eps_angular(const torch::Tensor& x, const torch::Tensor& eps, S phi) {
  return cos_of(phi) * eps - sin_of(phi) * x;
}
template <class S>
torch::Tensor z_from_x_eps_angular(const torch::Tensor& x, const torch::Tensor& eps, S phi) {
  return cos_of(phi) * x + sin_of(phi) * eps;
}

// A model output read as both x and eps (what every sampler needs).
struct Denoised {
  torch::Tensor x0;   // predicted clean data
  torch::Tensor eps;  // predicted noise
};

// Reads a prediction of kind `prediction` at (alpha, sigma) as x and eps.
Denoised denoised_from(const torch::Tensor& output, Prediction prediction,
                       const torch::Tensor& z, double alpha, double sigma);
Denoised denoised_from(const torch::Tensor& output, Prediction prediction,
                       const torch::Tensor& z, const torch::Tensor& alpha,
                       const torch::Tensor& sigma);

// Converts a prediction between kinds (alpha/sigma form).
torch::Tensor convert_prediction(const torch::Tensor& output, Prediction from, Prediction to,
                                 const torch::Tensor& z, const torch::Tensor& alpha,
                                 const torch::Tensor& sigma);
torch::Tensor convert_prediction(const torch::Tensor& output, Prediction from, Prediction to,
                                 const torch::Tensor& z, double alpha, double sigma);

}  // namespace vdm::diffusion
