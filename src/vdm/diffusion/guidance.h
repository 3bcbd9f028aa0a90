// Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6) as a Denoiser that
// wraps a Denoiser:
//
//   pred = pred_uncond + w (pred_cond - pred_uncond)
//
// in the wrapped model's own parameterization (as diffusers' pipelines do), with the
// conditional and unconditional passes batched into ONE forward: the batch is
// [uncond; cond] (diffusers' order). `negative` is the unconditional input: the empty/null
// embedding, or a negative prompt's; a batch of 1 is repeated to the latents' batch.
// guidance_rescale (Lin et al. 2024, arXiv:2305.08891, Sec. 3.4; diffusers rescale_noise_cfg)
// pulls the per-item std of the guided prediction back towards the conditional one:
//
//   rescaled = pred * std(pred_cond) / std(pred),  pred = phi rescaled + (1 - phi) pred
//
// A scale of exactly 1 with no rescale needs no unconditional pass, so only the conditional
// one runs (still one forward per step).
#pragma once
#include <memory>

#include "vdm/diffusion/denoiser.h"

namespace vdm::diffusion {

struct GuidanceOptions {
  double scale = 7.5;     // w; 1 = conditional prediction only
  double rescale = 0.0;   // phi in [0, 1]; 0.7 in Lin et al. 2024
};

class ClassifierFreeGuidance final : public Denoiser {
 public:
  ClassifierFreeGuidance(std::shared_ptr<Denoiser> model, Conditioning negative,
                         GuidanceOptions options);
  torch::Tensor forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level,
                        const Conditioning& cond) override;
  Prediction prediction() const override { return model_->prediction(); }

 private:
  std::shared_ptr<Denoiser> model_;
  Conditioning negative_;
  GuidanceOptions options_;
};

// diffusers' rescale_noise_cfg: std over every dim but the batch.
torch::Tensor rescale_guidance(const torch::Tensor& guided, const torch::Tensor& cond_pred,
                               double rescale);

}  // namespace vdm::diffusion
