// The 2D convolution layer of vdm's networks: torch::nn::Conv2d (same parameters, same
// state-dict keys), whose 3x3 stride-1 forwards on the CPU in float32 without autograd run as
// Winograd F(4x4, 3x3) convolutions through oneDNN (Lavin & Gray 2016, arXiv:1509.09308).
//
// Winograd computes each 4x4 output tile from a 6x6 input tile with 36 multiplications per
// input-output channel pair instead of direct convolution's 144: the forwards of ModelScope's
// U-Net blocks ran 2.8-3.3x faster per layer on this machine's AVX-512 (bench/ measured it).
// LibTorch 1.13 never asks oneDNN for it. The result differs from direct convolution by
// rounding only (about 1e-5 of the output's magnitude in float32; tests/nn/test_conv2d.cpp
// bounds it). The price is memory: the transformed weights, kept per layer between calls, are
// 36/9 = 4x the layer's weights. So the path is taken only at 16x16 pixels and above, where a
// U-Net's convolutions have the most pixels and the fewest channels (ModelScope's full U-Net
// at 32x32 latents: 1.3 GB of transformed weights against 5.6 GB of parameters).
//
// Everything else (training, bf16, CUDA, strided or 1x1 convolutions, small images, builds
// without oneDNN, CPUs without AVX-512) is torch::nn::Conv2d's own forward. VDM_ONEDNN=0 in
// the environment, or set_onednn_enabled(false) (vdm/nn/onednn.h), turns the path off.
#pragma once
#include <torch/torch.h>

#include <memory>

namespace vdm::nn {

struct WinogradState;  // oneDNN primitive and transformed weights of one layer (conv2d.cpp)

class Conv2dImpl : public torch::nn::Conv2dImpl {
 public:
  explicit Conv2dImpl(const torch::nn::Conv2dOptions& options);
  ~Conv2dImpl() override;

  // x: [N, C_in, H, W] -> [N, C_out, H', W'], as torch::nn::Conv2d.
  torch::Tensor forward(const torch::Tensor& x);

  // Whether the last forward ran on the Winograd path (for tests and benchmarks).
  bool last_forward_was_winograd() const { return last_was_winograd_; }

 private:
  bool winograd_applies(const torch::Tensor& x) const;

  std::unique_ptr<WinogradState> winograd_;  // created on first use
  bool last_was_winograd_ = false;
};
TORCH_MODULE(Conv2d);

// The temporal 3x1x1 convolution of x [B, C, F, P] (P = H x W pixels, zero padding of one frame
// at each end) with weight [C_out, C, 3, 1] and bias [C_out] or undefined: LibTorch's conv2d,
// except without autograd in float32 on the CPU at P >= kFramesConvMinPixels, where oneDNN's
// direct convolution runs on the plain layouts as they are. LibTorch reorders the input, the
// output and the weights into oneDNN's blocked layouts at every call: on ModelScope's shapes
// the plain path took 27 instead of 48 ms at 32x32 and 25 instead of 28 ms at 16x16 (320 and
// 640 channels, 8 frames), and lost at 8x8 (29 against 25 ms), hence the threshold.
torch::Tensor frames_conv3x1(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
inline constexpr int64_t kFramesConvMinPixels = 16 * 16;

// How many convolutions this process ran through oneDNN's plain-layout path (for tests).
uint64_t frames_conv_onednn_count();

// This build has oneDNN and this CPU has a Winograd convolution in it (AVX-512).
bool winograd_available();
// The smallest H x W that takes the Winograd path.
inline constexpr int64_t kWinogradMinPixels = 16 * 16;

}  // namespace vdm::nn
