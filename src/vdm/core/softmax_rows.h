// Row-wise softmax over float32 rows in place, vectorised with SLEEF's AVX-512 exp
// (Shibata & Petrogalli, "SLEEF: A Portable Vectorized Library of C Standard Mathematical
// Functions", 2020; Debian: libsleef-dev).
//
// Why: the softmax of a U-Net's attention scores is the largest elementwise pass in a
// forward on the CPU (a [1024, 1024] block per head and frame at a 32x32 level). LibTorch
// 1.13's CPU softmax is built for AVX2 and takes 0.9 ns per element on one core here; this
// kernel takes 0.45 (bench numbers in docs/bench.md).
//
// The kernel lives in its own translation unit compiled for AVX-512 (softmax_rows_avx512.cpp)
// and is called only after a run-time check of the CPU; without SLEEF at build time, or on a
// CPU without AVX-512, softmax_rows_available() is false and callers use LibTorch's softmax.
//
//   if (vdm::kernels::softmax_rows_available())
//     vdm::kernels::softmax_rows(x, rows, len, ld, sums, /*normalize=*/false);
#pragma once
#include <cstdint>

namespace vdm::kernels {

// True when this build has the kernel and this CPU runs AVX-512 (checked once).
bool softmax_rows_available();

// For each of `rows` rows of `len` floats (row r at x + r * ld): x <- exp(x - max(x)) and
// sums[r] <- the row's sum of those; with `normalize`, the row is then divided by its sum
// (the softmax itself). Rows whose entries are all -inf become NaN, as LibTorch's softmax
// makes them. Call only when softmax_rows_available().
void softmax_rows(float* x, int64_t rows, int64_t len, int64_t ld, float* sums, bool normalize);

}  // namespace vdm::kernels
