// Internal to src/vdm/nn/{conv2d,linear,onednn}.cpp, the files built with oneDNN's headers:
// the CPU engine, and one call of a primitive on LibTorch tensors' own memory.
#pragma once
#if VDM_WITH_DNNL
#include <torch/torch.h>

#include <oneapi/dnnl/dnnl.hpp>

namespace vdm::nn::onednn {

// The process's oneDNN CPU engine.
dnnl::engine& cpu_engine();

// Runs `primitive` (a convolution or matmul) on src, weights and dst memory as laid out by the
// given descriptors, plus bias when it is defined, and waits for it.
void execute(const dnnl::primitive& primitive, const dnnl::memory::desc& src_desc, const torch::Tensor& src,
             const dnnl::memory::desc& weights_desc, const torch::Tensor& weights,
             const dnnl::memory::desc& dst_desc, torch::Tensor& dst, const dnnl::memory::desc& bias_desc,
             const torch::Tensor& bias);

}  // namespace vdm::nn::onednn
#endif
