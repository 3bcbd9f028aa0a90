// Exact attention, softmax(q k^T / sqrt(Dh) + bias) v, computed a block of query rows at a
// time, with its own backward that recomputes each block's scores instead of keeping them
// (the memory-efficient schedule of FlashAttention, Dao et al. 2022, arXiv:2205.14135, Alg. 4,
// written with LibTorch's bmm and a row softmax rather than one fused kernel; the softmax is
// core/softmax_rows.h's AVX-512 one in float32 where the CPU has it, else LibTorch's).
//
// Why: LibTorch 1.13 has no fused attention on the CPU. The plain composition writes the whole
// [G, Lq, Lk] score matrix to memory and reads it back three times (softmax, then P v; in
// training, again for every backward product). At a U-Net's 32x32 level that matrix is 67 MB
// per layer and the products have an inner size of 16: memory, not arithmetic, sets the
// time. A block of at most `score_budget` scores stays in one core's L2 cache, and blocks of
// different (batch x head) groups run on different threads. Autograd keeps only q, k, v,
// bias and the output.
//
// Short sequences (Lq and Lk up to 32: temporal attention over frames) take another kernel:
// thousands of 8x8 products would cost a BLAS call each, so plain loops do each group whole,
// and the probabilities (no bigger than q) are kept for the backward.
//
//   auto out = vdm::chunked_attention(q, k, v);        // q [G, Lq, Dh], k [G, Lk, Dh], v [G, Lk, Dv]
//   auto out = vdm::chunked_attention(q, k, v, bias);  // bias [G, Lq, Lk] (an expand() view is fine)
//
// Gradients flow to q, k, v and bias (a learned relative-position bias), not twice (no double
// backward). Inputs of any float dtype; every product runs in that dtype, as the composition does.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace vdm {

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& bias = {}, int64_t score_budget = int64_t(1) << 18);

}  // namespace vdm
