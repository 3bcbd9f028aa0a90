// A Linear layer applied the fast way. torch::nn::Linear's C++ forward computes matmul and
// then a separate bias add for inputs of more than 2 dims (one more pass over the output);
// at::linear folds the bias into the matrix product (addmm), as Python's F.linear does.
#pragma once
#include <torch/torch.h>

namespace vdm::nn {

inline torch::Tensor linear(const torch::nn::LinearImpl& layer, const torch::Tensor& x) {
  return at::linear(x, layer.weight, layer.bias);
}

inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) { return linear(*layer, x); }

}  // namespace vdm::nn
