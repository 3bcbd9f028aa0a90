// The AVX-512 body of vdm::kernels::softmax_rows (softmax_rows.h). Compiled with -mavx512f,
// and only when SLEEF is found: every function here may use AVX-512 instructions, so this
// file uses no inline function that another translation unit could share (no standard
// library templates), only intrinsics, and is reached only through the CPU check in
// softmax_rows.cpp.
#include <immintrin.h>
#include <sleef.h>

#include <cstdint>

namespace vdm::kernels::avx512 {

namespace {

// Lanes [0, n) of a row segment, n <= 16; the others read as `fill`.
inline __m512 load(const float* p, int64_t n, float fill) {
  if (n >= 16) return _mm512_loadu_ps(p);
  const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask, p);
}

inline void store(float* p, __m512 v, int64_t n) {
  if (n >= 16) {
    _mm512_storeu_ps(p, v);
  } else {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
}

void softmax_row(float* x, int64_t len, float* sum_out, bool normalize) {
  const float neg_inf = -__builtin_inff();
  __m512 m = _mm512_set1_ps(neg_inf);
  for (int64_t j = 0; j < len; j += 16) m = _mm512_max_ps(m, load(x + j, len - j, neg_inf));
  const __m512 row_max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t n = len - j;
    // Masked-off lanes read -inf: exp gives 0 there and the sum is unchanged.
    const __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(load(x + j, n, neg_inf), row_max));
    store(x + j, e, n);
    acc = _mm512_add_ps(acc, e);
  }
  const float sum = _mm512_reduce_add_ps(acc);
  *sum_out = sum;
  if (!normalize) return;
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t n = len - j;
    store(x + j, _mm512_mul_ps(load(x + j, n, 0.0f), inv), n);
  }
}

}  // namespace

void softmax_rows(float* x, int64_t rows, int64_t len, int64_t ld, float* sums, bool normalize) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * ld, len, sums + r, normalize);
}

}  // namespace vdm::kernels::avx512
