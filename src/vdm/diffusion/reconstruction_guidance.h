// Reconstruction guidance (VDM: Ho et al. 2022, arXiv:2204.03458, Sec. 3.1; seed 1.4):
// sampling x = [x^a, x^b] from a model of the joint, given x^a. The model runs on the whole
// latent z_t = [z_t^a, z_t^b]; its x prediction for the unknown part is corrected by the
// gradient of how badly its prediction of the known part reconstructs x^a:
//
//   x~^b = x^b_hat - (w_r alpha_t / 2) grad_{z_t^b} || x^a - x^a_hat(z_t) ||^2
//
// and, at every step, the known part's latent is redrawn from q(z_t | x^a) (renoise_known).
// With w_r = 0 only the redrawing remains: the "replacement" method, the baseline that the
// seed shows to be incoherent (the unknown part never learns what the known part is).
//
// The observation is either a subset of z's entries (frames before or between the ones to
// make: extension, interpolation), or a differentiable operator of x (a low-resolution
// video: y = A(x), A a downsampling), in which case nothing is redrawn and the gradient
// applies to all of z.
//
//   auto guided = std::make_shared<ReconstructionGuidance>(cfg_model, Observation::frames(y, known), 2.0);
//   options.callback = renoise_known(guided->observation(), schedule_generator);
//   auto x = sampler.fn(*guided, z, cond, plan, options);
//
// Works with any Denoiser (any parameterization; classifier-free guidance inside it is fine).
// Each call runs the model once with autograd on and keeps nothing after it returns, so
// memory does not grow with the number of steps.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>

#include "vdm/diffusion/denoiser.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::diffusion {

struct Observation {
  // Frames (or any entries) of x that are known: `y` holds them where `known` is true (any
  // values elsewhere); `known` is bool and broadcasts to z ([B or 1, 1, F, 1, 1] for frames).
  static Observation entries(torch::Tensor y, torch::Tensor known);
  // y = op(x) for a differentiable op (a downsampling, say); nothing of z is pinned down.
  static Observation through(std::function<torch::Tensor(const torch::Tensor&)> op, torch::Tensor y);

  torch::Tensor y;
  torch::Tensor known;                                 // undefined for an operator observation
  std::function<torch::Tensor(const torch::Tensor&)> op;  // empty for an entries observation

  // The reconstruction error || y - A(x) ||^2 per item: [B].
  torch::Tensor error(const torch::Tensor& x) const;
};

class ReconstructionGuidance final : public Denoiser {
 public:
  // weight: w_r >= 0; 0 returns the model's prediction untouched.
  ReconstructionGuidance(std::shared_ptr<Denoiser> model, Observation observation, double weight);

  torch::Tensor forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level, const Conditioning& cond) override;
  Prediction prediction() const override { return model_->prediction(); }

  const Observation& observation() const { return observation_; }
  // Mean over the batch of || y - A(x_hat) ||^2 at the last call (before the correction).
  double last_error() const { return last_error_; }

 private:
  std::shared_ptr<Denoiser> model_;
  Observation observation_;
  double weight_;
  double last_error_ = 0;
};

// z's known entries set to alpha y + sigma eps, eps ~ N(0, I) from `generator`: a fresh draw
// of q(z_t | x^a) (at sigma = 0, y itself).
void renoise_known(torch::Tensor& z, const NoiseLevel& level, const Observation& observation,
                   torch::Generator& generator);
// The same after every sampler step, as a SamplerOptions::callback (chains `then` after it).
// Also apply renoise_known to the initial z: the first step then sees the known part too.
StepCallback renoise_known_callback(Observation observation, torch::Generator generator, StepCallback then = {});

}  // namespace vdm::diffusion
