#include "vdm/diffusion/guidance.h"

#include <cmath>
#include <numeric>

#include "vdm/core/error.h"

namespace vdm::diffusion {

ClassifierFreeGuidance::ClassifierFreeGuidance(std::shared_ptr<Denoiser> model,
                                               Conditioning negative, GuidanceOptions options)
    : model_(std::move(model)), negative_(std::move(negative)), options_(options) {
  VDM_CHECK(model_ != nullptr, "classifier-free guidance needs a model");
  VDM_CHECK(std::isfinite(options.scale), "guidance scale must be finite, got {}", options.scale);
  VDM_CHECK(options.rescale >= 0 && options.rescale <= 1,
            "guidance rescale must be in [0, 1], got {}", options.rescale);
}

torch::Tensor rescale_guidance(const torch::Tensor& guided, const torch::Tensor& cond_pred,
                               double rescale) {
  std::vector<int64_t> dims(static_cast<size_t>(guided.dim() - 1));
  std::iota(dims.begin(), dims.end(), 1);
  const auto std_cond = cond_pred.std(dims, /*unbiased=*/true, /*keepdim=*/true);  // [B, 1, ...]
  const auto std_cfg = guided.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  const auto rescaled = guided * (std_cond / std_cfg);
  return rescale * rescaled + (1.0 - rescale) * guided;
}

torch::Tensor ClassifierFreeGuidance::forward(const torch::Tensor& z_t,
                                              const BatchedNoiseLevel& level,
                                              const Conditioning& cond) {
  const int64_t batch = z_t.size(0);
  if (options_.scale == 1.0 && options_.rescale == 0.0) return model_->forward(z_t, level, cond);
  const auto uncond = negative_.expand_batch(batch);
  const auto both = Conditioning::cat(uncond, cond.expand_batch(batch));  // [uncond; cond]
  const auto out = model_->forward(torch::cat({z_t, z_t}, 0), level.repeat(2), both);  // [2B, ...]
  const auto pred_uncond = out.slice(0, 0, batch);
  const auto pred_cond = out.slice(0, batch, 2 * batch);
  auto guided = pred_uncond + options_.scale * (pred_cond - pred_uncond);
  if (options_.rescale > 0) guided = rescale_guidance(guided, pred_cond, options_.rescale);
  return guided;
}

}  // namespace vdm::diffusion
