// The denoiser interface (DESIGN.md conventions): a model (z_t, noise level, cond) ->
// prediction that declares what it predicts (eps, x or v). Samplers, losses and guidance see
// models only through it, so every sampler works with every model, and a guidance method is
// a Denoiser wrapping a Denoiser.
//
//   struct MyModel : vdm::diffusion::Denoiser {
//     torch::Tensor forward(const torch::Tensor& z, const BatchedNoiseLevel& level,
//                           const Conditioning& cond) override;      // [B, C, F, H, W]
//     Prediction prediction() const override { return Prediction::kV; }
//   };
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "vdm/diffusion/noise_level.h"
#include "vdm/diffusion/parameterization.h"

namespace vdm::diffusion {

// Conditioning inputs, each batch-first ([B, ...]) and named as the model family names them
// (diffusers: "encoder_hidden_states", "class_labels", ...). Empty for unconditional models.
struct Conditioning {
  std::map<std::string, torch::Tensor> tensors;

  bool empty() const { return tensors.empty(); }
  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  const torch::Tensor& at(const std::string& name) const;  // throws naming the missing key
  // Batch size shared by every tensor (0 when empty); throws if they disagree.
  int64_t batch_size() const;
  // Every tensor with its batch repeated to `batch` (from 1 or already `batch`).
  Conditioning expand_batch(int64_t batch) const;
  // [a; b] along the batch, tensor by tensor; both must hold the same names.
  static Conditioning cat(const Conditioning& a, const Conditioning& b);
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  // z_t: [B, ...]; level: B entries; returns the prediction, shaped like z_t.
  virtual torch::Tensor forward(const torch::Tensor& z_t, const BatchedNoiseLevel& level,
                                const Conditioning& cond) = 0;
  virtual Prediction prediction() const = 0;
};

}  // namespace vdm::diffusion
