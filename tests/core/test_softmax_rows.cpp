// The AVX-512 row softmax (core/softmax_rows.h) against LibTorch's softmax: lengths around the
// 16-lane width (masked tails), rows with padding between them, -inf entries, large values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "vdm/core/softmax_rows.h"

namespace {

using vdm::kernels::softmax_rows;
using vdm::kernels::softmax_rows_available;

TEST(SoftmaxRows, EqualsLibTorchSoftmaxAndSumsForEveryLengthAndStride) {
  if (!softmax_rows_available()) GTEST_SKIP() << "no SLEEF in this build or no AVX-512 on this CPU";
  torch::manual_seed(0);
  for (const int64_t len : {1, 7, 15, 16, 17, 33, 1000, 1024}) {
    const int64_t rows = 5, ld = len + 3;  // 3 padding values after each row must stay as they are
    const auto storage = torch::randn({rows, ld}) * 6;
    const auto x = storage.narrow(1, 0, len);
    const auto expected = torch::softmax(x.to(torch::kFloat64), -1);
    const auto shifted = x.to(torch::kFloat64) - std::get<0>(x.to(torch::kFloat64).max(-1, true));
    const auto expected_sums = shifted.exp().sum(-1);
    for (const bool normalize : {false, true}) {
      auto work = storage.clone();
      auto sums = torch::empty({rows});
      softmax_rows(work.data_ptr<float>(), rows, len, ld, sums.data_ptr<float>(), normalize);
      const auto got = work.narrow(1, 0, len).to(torch::kFloat64);
      const auto probabilities = normalize ? got : got / sums.to(torch::kFloat64).unsqueeze(1);
      EXPECT_LT((probabilities - expected).abs().max().item<double>(), 1e-6) << "len " << len << " normalize " << normalize;
      EXPECT_LT(((sums.to(torch::kFloat64) - expected_sums) / expected_sums).abs().max().item<double>(), 1e-6)
          << "len " << len;
      EXPECT_TRUE(torch::equal(work.narrow(1, len, ld - len), storage.narrow(1, len, ld - len))) << "len " << len;
    }
  }
}

TEST(SoftmaxRows, MinusInfinityGivesZeroAndLargeScoresDoNotOverflow) {
  if (!softmax_rows_available()) GTEST_SKIP() << "no SLEEF in this build or no AVX-512 on this CPU";
  // A masked row (as an image item's temporal attention has), a row of huge scores and a row
  // whose entries are all -inf (NaN, as LibTorch's softmax gives).
  auto x = torch::tensor({0.5f, -INFINITY, 2.0f, -INFINITY, 1e4f, 1e4f - 1, -1e4f, 3e4f, -INFINITY, -INFINITY,
                          -INFINITY, -INFINITY})
               .view({3, 4});
  const auto expected = torch::softmax(x, -1);
  auto sums = torch::empty({3});
  softmax_rows(x.data_ptr<float>(), 3, 4, 4, sums.data_ptr<float>(), /*normalize=*/true);
  EXPECT_TRUE(torch::allclose(x.narrow(0, 0, 2), expected.narrow(0, 0, 2), 1e-6, 1e-7)) << x << expected;
  EXPECT_EQ(x[0][1].item<float>(), 0.0f);
  EXPECT_TRUE(torch::isnan(x[2]).all().item<bool>());
  EXPECT_TRUE(torch::isnan(expected[2]).all().item<bool>());
}

}  // namespace
