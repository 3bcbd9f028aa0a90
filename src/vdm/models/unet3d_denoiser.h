// The 3D U-Net seen as a diffusion Denoiser (DESIGN.md: samplers only see models through
// that interface). Text embeddings come in the conditioning under diffusers' name,
// "encoder_hidden_states" ([B, L, D]); the model's time input is the level's `timestep`
// (diffusers' integer timestep for diffusers models). The prediction type is the config's
// (`prediction`), or the scheduler's prediction_type for diffusers models.
#pragma once
#include <memory>

#include "vdm/diffusion/denoiser.h"
#include "vdm/models/unet3d.h"

namespace vdm::models {

class UNet3DDenoiser final : public diffusion::Denoiser {
 public:
  UNet3DDenoiser(UNet3D unet, diffusion::Prediction prediction);
  // From the config's `prediction` field.
  explicit UNet3DDenoiser(UNet3D unet);

  // z_t: [B, C, F, H, W] in any floating dtype; the model runs in its own dtype and the result
  // comes back in z_t's.
  torch::Tensor forward(const torch::Tensor& z_t, const diffusion::BatchedNoiseLevel& level,
                        const diffusion::Conditioning& cond) override;
  diffusion::Prediction prediction() const override { return prediction_; }

  UNet3D& unet() { return unet_; }
  UNet3DForwardOptions forward_options;  // e.g. is_image for joint training

 private:
  UNet3D unet_;
  diffusion::Prediction prediction_;
};

}  // namespace vdm::models
