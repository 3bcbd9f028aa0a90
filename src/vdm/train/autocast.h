// Mixed precision for training: an RAII guard that turns LibTorch's autocast on for one
// device type while it lives (torch.autocast in Python). Under it, matrix products and
// convolutions run in the chosen low-precision type while weights, gradients, the optimizer
// and normalisations stay float32 (Micikevicius et al. 2018, arXiv:1710.03740; bfloat16
// needs no loss scaling: its exponent range is float32's).
//
// LibTorch 1.13's CPU autocast leaves group_norm and layer_norm out of its float32 list, and
// its CPU kernels refuse a bfloat16 input with float32 weights ("expected scalar type
// BFloat16 but found Float"). The first CPU guard therefore registers a float32 policy for
// both under the AutocastCPU dispatch key (what CUDA autocast does for them already). Later
// versions handle mixed types themselves, so the registration is 1.13 only.
//
// The autocast API differs between LibTorch 1.13 (set_cpu_enabled / set_autocast_cpu_dtype,
// set_enabled / set_autocast_gpu_dtype for CUDA) and 2.4+ (set_autocast_enabled(device type,
// on) and set_autocast_dtype); autocast.cpp is the one place that knows.
#pragma once
#include <torch/torch.h>

namespace vdm::train {

class AutocastGuard {
 public:
  // dtype kFloat32 means "off" (the guard does nothing).
  AutocastGuard(torch::DeviceType device, torch::Dtype dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType device_;
  bool on_;
  bool previous_enabled_ = false;
  torch::Dtype previous_dtype_ = torch::kBFloat16;
};

}  // namespace vdm::train
