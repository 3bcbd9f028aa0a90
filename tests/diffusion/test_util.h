// Shared helpers for the diffusion tests.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace vdm::diffusion::test {

inline torch::Generator cpu_generator(uint64_t seed) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  return gen;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace vdm::diffusion::test
