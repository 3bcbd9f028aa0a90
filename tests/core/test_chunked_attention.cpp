// chunked_attention against the plain composition (compat::attention_reference under autograd):
// the same output and the same gradients for q, k, v and a learned bias, whatever the blocks
// (one row, uneven splits, whole groups) and the thread count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "support/test_util.h"
#include "vdm/core/chunked_attention.h"
#include "vdm/core/error.h"
#include "vdm/core/torch_compat.h"

namespace vdm {
namespace {

struct Grads {
  torch::Tensor out, dq, dk, dv, dbias;
};

// Output and gradients of sum(out * w) for a fixed random w, through `attend`.
template <class Attend>
Grads run(const Attend& attend, const torch::Tensor& q0, const torch::Tensor& k0, const torch::Tensor& v0,
          const torch::Tensor& bias0, const torch::Tensor& w) {
  auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
  torch::Tensor bias;
  if (bias0.defined()) bias = bias0.clone().requires_grad_(true);
  // A bias learned per (query, key) and shared by every group, as a relative-position bias is.
  const auto full = bias.defined() ? bias.expand({q.size(0), q.size(1), k.size(1)}) : torch::Tensor();
  auto out = attend(q, k, v, full);
  (out * w).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad(), bias.defined() ? bias.grad() : torch::Tensor()};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Shapes: long sequences (blocks of rows), short ones as temporal attention has (Lq, Lk <= 32:
// the per-group kernel), and the boundary.
TEST(ChunkedAttention, OutputAndGradientsEqualTheCompositionForAnyBlocksAndThreads) {
  struct Shape {
    int64_t g, lq, lk, dh, dv;
  };
  for (const auto& [g, lq, lk, dh, dv] : {Shape{6, 37, 29, 8, 5}, Shape{40, 8, 8, 16, 16}, Shape{5, 3, 32, 8, 6},
                                          Shape{3, 33, 32, 4, 4}}) {
    torch::manual_seed(0);
    const auto q = torch::randn({g, lq, dh}), k = torch::randn({g, lk, dh}), v = torch::randn({g, lk, dv});
    const auto bias = torch::randn({1, lq, lk});
    const auto w = torch::randn({g, lq, dv});
    const auto reference = [](auto q, auto k, auto v, auto b) { return compat::attention_reference(q, k, v, b); };
    for (const bool with_bias : {false, true}) {
      const auto b = with_bias ? bias : torch::Tensor();
      const auto ref = run(reference, q, k, v, b, w);
      // Budgets: one score (one row of one group per block), uneven row blocks, exactly one
      // group, several whole groups per block.
      for (const int64_t budget : {int64_t(1), int64_t(100), lq * lk, int64_t(1) << 20}) {
        for (const int threads : {1, 2}) {
          vdm::test::ThreadCount tc(threads);
          const auto got = run([&](auto q, auto k, auto v, auto b) { return chunked_attention(q, k, v, b, budget); },
                               q, k, v, b, w);
          const auto where = ::testing::Message() << "shape [" << g << ", " << lq << ", " << lk << ", " << dh << ", "
                                                  << dv << "] bias " << with_bias << " budget " << budget
                                                  << " threads " << threads;
          EXPECT_LT(max_diff(got.out, ref.out), 1e-5) << where;
          EXPECT_LT(max_diff(got.dq, ref.dq), 1e-5) << where;
          EXPECT_LT(max_diff(got.dk, ref.dk), 1e-5) << where;
          EXPECT_LT(max_diff(got.dv, ref.dv), 1e-5) << where;
          if (with_bias) {
            EXPECT_LT(max_diff(got.dbias, ref.dbias), 1e-5) << where;
          }
        }
      }
    }
  }
}

// Image items in joint training: each frame attends only to itself (-inf off the diagonal). The
// blocked entries get probability 0 and gradient 0, nothing NaN.
TEST(ChunkedAttention, MinusInfinityMaskGivesFiniteGradientsEqualToTheComposition) {
  torch::manual_seed(1);
  const int64_t g = 4, f = 8, dh = 16;
  const auto q = torch::randn({g, f, dh}), k = torch::randn({g, f, dh}), v = torch::randn({g, f, dh});
  auto mask = torch::zeros({1, f, f}).masked_fill(torch::eye(f, torch::kBool).logical_not().unsqueeze(0), -INFINITY);
  const auto w = torch::randn({g, f, dh});
  const auto ref = run([](auto q, auto k, auto v, auto b) { return compat::attention_reference(q, k, v, b); }, q, k, v,
                       mask, w);
  const auto got =
      run([](auto q, auto k, auto v, auto b) { return chunked_attention(q, k, v, b, 16); }, q, k, v, mask, w);
  EXPECT_LT(max_diff(got.out, v), 1e-6);  // attending only to itself returns its own value
  for (const auto& t : {got.dq, got.dk, got.dv}) EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
  EXPECT_LT(max_diff(got.dq, ref.dq), 1e-5);
  EXPECT_LT(max_diff(got.dk, ref.dk), 1e-5);
  EXPECT_LT(max_diff(got.dv, ref.dv), 1e-5);
}

// Inference (no grad) takes the same paths without autograd; bf16 stays close to float32 and
// comes back as bf16, with gradients of the input types.
TEST(ChunkedAttention, NoGradAndBf16) {
  for (const int64_t l : {int64_t(8), int64_t(64)}) {  // the short kernel and the row blocks
    torch::manual_seed(2);
    const auto q = torch::randn({3, l, 16}), k = torch::randn({3, l + 4, 16}), v = torch::randn({3, l + 4, 16});
    const auto ref = compat::attention_reference(q, k, v);
    {
      torch::NoGradGuard no_grad;
      EXPECT_LT(max_diff(chunked_attention(q, k, v, {}, 300), ref), 1e-5) << l;
      const auto bf =
          chunked_attention(q.to(torch::kBFloat16), k.to(torch::kBFloat16), v.to(torch::kBFloat16), {}, 300);
      EXPECT_EQ(bf.scalar_type(), torch::kBFloat16);
      EXPECT_LT((bf.to(torch::kFloat32) - ref).abs().mean().item<double>(), 0.02 * ref.abs().mean().item<double>())
          << l;
    }
    auto qb = q.to(torch::kBFloat16).requires_grad_(true);
    chunked_attention(qb, k.to(torch::kBFloat16), v.to(torch::kBFloat16)).sum().backward();
    ASSERT_TRUE(qb.grad().defined()) << l;
    EXPECT_EQ(qb.grad().scalar_type(), torch::kBFloat16) << l;
  }
}

// float64 is computed in float64 on both paths (finite-difference gradient checks rely on it).
TEST(ChunkedAttention, Float64IsExactToFloat64Precision) {
  for (const int64_t l : {int64_t(8), int64_t(40)}) {
    torch::manual_seed(3);
    const auto opts = torch::dtype(torch::kFloat64);
    const auto q = torch::randn({4, l, 8}, opts), k = torch::randn({4, l, 8}, opts), v = torch::randn({4, l, 8}, opts);
    const auto bias = torch::randn({1, l, l}, opts), w = torch::randn({4, l, 8}, opts);
    const auto ref = run([](auto q, auto k, auto v, auto b) { return compat::attention_reference(q, k, v, b); }, q, k,
                         v, bias, w);
    const auto got =
        run([](auto q, auto k, auto v, auto b) { return chunked_attention(q, k, v, b, 64); }, q, k, v, bias, w);
    EXPECT_EQ(got.out.scalar_type(), torch::kFloat64);
    EXPECT_LT(max_diff(got.out, ref.out), 1e-12) << l;
    EXPECT_LT(max_diff(got.dq, ref.dq), 1e-12) << l;
    EXPECT_LT(max_diff(got.dk, ref.dk), 1e-12) << l;
    EXPECT_LT(max_diff(got.dv, ref.dv), 1e-12) << l;
    EXPECT_LT(max_diff(got.dbias, ref.dbias), 1e-12) << l;
  }
}

TEST(ChunkedAttention, ShapesThatDoNotFitAreAnErrorNamingThem) {
  const auto q = torch::randn({2, 5, 8}), k = torch::randn({2, 7, 8}), v = torch::randn({2, 7, 4});
  EXPECT_THROW(chunked_attention(q, torch::randn({2, 7, 6}), v), Error);  // Dh differs
  EXPECT_THROW(chunked_attention(q, k, torch::randn({2, 6, 4})), Error);  // Lk differs
  EXPECT_THROW(chunked_attention(q.unsqueeze(0), k, v), Error);           // 4D
  try {
    chunked_attention(q, k, v, torch::zeros({2, 5, 6}));
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bias must be [G, Lq, Lk] = [2, 5, 7]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vdm
