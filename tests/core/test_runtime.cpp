#include <gtest/gtest.h>

#include <chrono>

#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/core/torch_compat.h"

namespace {

// Debian's default reference BLAS makes float32 matrix products ~34x slower; the setup
// script installs OpenBLAS. This fails when LibTorch's products go through the reference one.
TEST(Runtime, BlasIsNotTheReferenceImplementation) {
  auto a = torch::randn({512, 512});
  (void)torch::matmul(a, a);  // make sure the BLAS is loaded and used
  const std::string blas = vdm::blas_implementation();
  EXPECT_NE(blas, "reference") << "LibTorch links Debian's reference BLAS; run scripts/setup.sh "
                                  "(installs libopenblas0-openmp)";
  // The rate is reported, not asserted: on a loaded machine (ctest -j2 on 2 cores) OpenBLAS
  // can fall to the reference BLAS's ~6 GFLOP/s, so only the loaded library is a sound oracle.
  vdm::set_threads(0);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = torch::matmul(a, a);
    (void)c.sum().item<float>();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * 512 * 512 * 512 / s / 1e9);
  }
  RecordProperty("matmul_gflops", std::to_string(best));
  std::printf("BLAS: %s, float32 512x512 matmul: %.1f GFLOP/s\n", blas.c_str(), best);
}

// vdm's own at::parallel_for loops (CPU attention above all) split over threads only when the
// library is compiled with OpenMP; without it they silently ran on one thread.
TEST(Runtime, ParallelLoopsRunOnEveryThreadInGccBuilds) {
  vdm::set_threads(2);
#if defined(__GNUC__) && !defined(__clang__)
  EXPECT_EQ(vdm::parallel_loop_threads(), 2) << "vdm was compiled without OpenMP (CMakeLists.txt links OpenMP::OpenMP_CXX)";
#else
  EXPECT_GE(vdm::parallel_loop_threads(), 1);  // clang builds keep vdm's loops serial (CMakeLists.txt)
#endif
  vdm::set_threads(1);
  EXPECT_EQ(vdm::parallel_loop_threads(), 1);
  vdm::set_threads(0);
}

TEST(Runtime, ThreadsDefaultToEveryCore) {
  EXPECT_EQ(vdm::set_threads(0), vdm::available_cores());
  EXPECT_EQ(torch::get_num_threads(), vdm::available_cores());
  EXPECT_EQ(vdm::set_threads(1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  vdm::set_threads(0);
}

TEST(Runtime, DeviceParsing) {
  EXPECT_TRUE(vdm::parse_device("cpu").is_cpu());
  EXPECT_EQ(vdm::parse_device("auto").is_cuda(), torch::cuda::is_available());
  EXPECT_THROW(vdm::parse_device("tpu"), vdm::Error);
  EXPECT_THROW(vdm::parse_device("cuda:x"), vdm::Error);
  if (!torch::cuda::is_available()) {
    try {
      vdm::parse_device("cuda");
      FAIL() << "expected an error";
    } catch (const vdm::Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos);
    }
  }
}

TEST(Runtime, DtypeParsingFollowsTheHardware) {
  const auto cpu = torch::Device(torch::kCPU);
  EXPECT_EQ(vdm::parse_dtype("f32", cpu), torch::kFloat32);
  EXPECT_THROW(vdm::parse_dtype("f16", cpu), vdm::Error);  // f16 is GPU-only
  EXPECT_THROW(vdm::parse_dtype("int4", cpu), vdm::Error);
  if (vdm::cpu_supports_bf16()) {
    EXPECT_EQ(vdm::parse_dtype("bf16", cpu), torch::kBFloat16);
  } else {
    EXPECT_THROW(vdm::parse_dtype("bf16", cpu), vdm::Error);
  }
}

// The compat attention (fused on LibTorch 2.x) equals the reference composition.
TEST(Runtime, CompatAttentionMatchesReference) {
  torch::manual_seed(0);
  auto q = torch::randn({2, 3, 5, 8}), k = torch::randn({2, 3, 7, 8}), v = torch::randn({2, 3, 7, 8});
  auto bias = torch::randn({3, 5, 7});
  auto ref = vdm::compat::attention_reference(q, k, v, bias);
  // Closed form for one entry: softmax over keys, by hand.
  auto s = (q[0][1][2].unsqueeze(0) * k[0][1]).sum(-1) / std::sqrt(8.0) + bias[1][2];
  auto w = torch::softmax(s, 0);
  auto expect = (w.unsqueeze(1) * v[0][1]).sum(0);
  EXPECT_LT((ref[0][1][2] - expect).abs().max().item<float>(), 1e-5);
  auto fused = vdm::compat::scaled_dot_product_attention(q, k, v, bias);
  EXPECT_LT((fused - ref).abs().max().item<float>(), 1e-5);
  // The chunked inference path, with chunks smaller than one slice's scores and uneven splits.
  for (int64_t budget : {1, 35, 70, 1 << 20}) {
    auto chunked = vdm::compat::attention_chunked(q, k, v, bias, budget);
    EXPECT_LT((chunked - ref).abs().max().item<float>(), 1e-5) << budget;
  }
  torch::NoGradGuard no_grad;
  EXPECT_LT((vdm::compat::scaled_dot_product_attention(q, k, v) - vdm::compat::attention_reference(q, k, v))
                .abs().max().item<float>(), 1e-5);
}

}  // namespace
