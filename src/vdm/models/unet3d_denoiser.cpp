#include "vdm/models/unet3d_denoiser.h"

namespace vdm::models {

UNet3DDenoiser::UNet3DDenoiser(UNet3D unet, diffusion::Prediction prediction)
    : unet_(std::move(unet)), prediction_(prediction) {}

UNet3DDenoiser::UNet3DDenoiser(UNet3D unet)
    : UNet3DDenoiser(unet, diffusion::parse_prediction(unet->config().prediction)) {}

torch::Tensor UNet3DDenoiser::forward(const torch::Tensor& z_t, const diffusion::BatchedNoiseLevel& level,
                                      const diffusion::Conditioning& cond) {
  torch::Tensor context;
  if (cond.contains("encoder_hidden_states")) context = cond.at("encoder_hidden_states");
  return unet_->forward(z_t, level.timestep, context, forward_options).to(z_t.scalar_type());
}

}  // namespace vdm::models
