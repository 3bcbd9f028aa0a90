// A Linear layer applied the fast way.
//
// * torch::nn::Linear's C++ forward computes matmul and then a separate bias add for inputs of
//   more than 2 dims (one more pass over the output); at::linear folds the bias into the
//   matrix product (addmm), as Python's F.linear does.
// * Without autograd, in float32 on the CPU, products of at least kOnednnMinFlops go to
//   oneDNN's matmul with the bias in its epilogue (vdm/nn/onednn.h): on this machine's AVX-512
//   it ran 0-24% faster than OpenBLAS on a U-Net's shapes, and addmm's two extra passes over
//   the output (copying the bias in, then scaling it by beta) are gone.
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

torch::Tensor linear(const torch::nn::LinearImpl& layer, const torch::Tensor& x);

inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) { return linear(*layer, x); }

// How many products this process sent to oneDNN (for tests and benchmarks).
uint64_t onednn_linear_count();

// 2 x M x N x K below which a product stays with LibTorch (creating oneDNN's primitive then
// costs more than it saves).
inline constexpr double kOnednnMinFlops = 1 << 22;

}  // namespace vdm::nn
