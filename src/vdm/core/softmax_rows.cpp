#include "vdm/core/softmax_rows.h"

#include <stdexcept>

#if VDM_WITH_SLEEF
namespace vdm::kernels::avx512 {
// In softmax_rows_avx512.cpp, compiled with -mavx512f: run it on AVX-512 CPUs only.
void softmax_rows(float* x, int64_t rows, int64_t len, int64_t ld, float* sums, bool normalize);
}  // namespace vdm::kernels::avx512
#endif

namespace vdm::kernels {

bool softmax_rows_available() {
#if VDM_WITH_SLEEF
  static const bool available = __builtin_cpu_supports("avx512f") != 0;
  return available;
#else
  return false;
#endif
}

void softmax_rows(float* x, int64_t rows, int64_t len, int64_t ld, float* sums, bool normalize) {
  if (!softmax_rows_available()) {
    throw std::logic_error("vdm::kernels::softmax_rows: not available on this build or CPU (check softmax_rows_available())");
  }
#if VDM_WITH_SLEEF
  avx512::softmax_rows(x, rows, len, ld, sums, normalize);
#endif
}

}  // namespace vdm::kernels
