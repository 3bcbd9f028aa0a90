// vdm's own CPU paths through oneDNN, the library under LibTorch's CPU convolutions: Winograd
// 3x3 convolutions (vdm/nn/conv2d.h) and matrix products for linear layers (vdm/nn/linear.h).
// Both run only where no gradient is needed, in float32 on the CPU, in builds with oneDNN;
// everything else is LibTorch's. They change results by rounding only.
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

// The process-wide switch, initially on unless the environment has VDM_ONEDNN=0 (for
// bit-exact comparisons with LibTorch, or to rule these paths out when chasing a problem).
bool onednn_enabled();
void set_onednn_enabled(bool enabled);

// The conditions every such path shares: the switch is on; x, weight and bias (when defined)
// are float32 on the CPU, weight and bias contiguous; and no gradient is wanted through them.
bool onednn_may_run(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Whether this build has oneDNN at all.
bool onednn_built();

}  // namespace vdm::nn
