#include "vdm/diffusion/parameterization.h"

#include "vdm/core/error.h"

namespace vdm::diffusion {

std::string prediction_name(Prediction prediction) {
  switch (prediction) {
    case Prediction::kEps: return "eps";
    case Prediction::kX: return "x";
    case Prediction::kV: return "v";
  }
  return "?";
}

Prediction parse_prediction(const std::string& name) {
  if (name == "eps" || name == "epsilon") return Prediction::kEps;
  if (name == "x" || name == "sample") return Prediction::kX;
  if (name == "v" || name == "v_prediction") return Prediction::kV;
  throw Error(fmt::format(
      "unknown prediction type '{}'; expected eps (epsilon), x (sample) or v (v_prediction)",
      name));
}

namespace {
template <class S>
Denoised denoised_impl(const torch::Tensor& output, Prediction prediction,
                       const torch::Tensor& z, S alpha, S sigma) {
  switch (prediction) {
    case Prediction::kEps: return {x_from_eps(z, output, alpha, sigma), output};
    case Prediction::kX: return {output, eps_from_x(z, output, alpha, sigma)};
    case Prediction::kV:
      return {x_from_v(z, output, alpha, sigma), eps_from_v(z, output, alpha, sigma)};
  }
  throw Error("invalid Prediction value");
}

template <class S>
torch::Tensor convert_impl(const torch::Tensor& output, Prediction from, Prediction to,
                           const torch::Tensor& z, S alpha, S sigma) {
  if (from == to) return output;
  if (to == Prediction::kX && from == Prediction::kEps) return x_from_eps(z, output, alpha, sigma);
  if (to == Prediction::kX && from == Prediction::kV) return x_from_v(z, output, alpha, sigma);
  if (to == Prediction::kEps && from == Prediction::kX) return eps_from_x(z, output, alpha, sigma);
  if (to == Prediction::kEps && from == Prediction::kV) return eps_from_v(z, output, alpha, sigma);
  const auto d = denoised_impl(output, from, z, alpha, sigma);  // to v
  return v_from_x_eps(d.x0, d.eps, alpha, sigma);
}
}  // namespace

Denoised denoised_from(const torch::Tensor& output, Prediction prediction,
                       const torch::Tensor& z, double alpha, double sigma) {
  return denoised_impl(output, prediction, z, alpha, sigma);
}
Denoised denoised_from(const torch::Tensor& output, Prediction prediction,
                       const torch::Tensor& z, const torch::Tensor& alpha,
                       const torch::Tensor& sigma) {
  return denoised_impl(output, prediction, z, alpha, sigma);
}

torch::Tensor convert_prediction(const torch::Tensor& output, Prediction from, Prediction to,
                                 const torch::Tensor& z, const torch::Tensor& alpha,
                                 const torch::Tensor& sigma) {
  return convert_impl(output, from, to, z, alpha, sigma);
}
torch::Tensor convert_prediction(const torch::Tensor& output, Prediction from, Prediction to,
                                 const torch::Tensor& z, double alpha, double sigma) {
  return convert_impl(output, from, to, z, alpha, sigma);
}

}  // namespace vdm::diffusion
