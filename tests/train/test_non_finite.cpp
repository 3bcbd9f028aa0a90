// Non-finite numbers in training (reliability issue): NaN/Inf injected into the loss or the
// gradients is detected and skipped with the trained state byte-identical, no written
// checkpoint holds a non-finite value, and a run of them stops with a clear error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <map>
#include <random>
#include <set>

#include "support/test_util.h"
#include "train/train_test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/safetensors.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/trainer.h"

namespace vdm::train {
namespace {

using test::tiny_data;
using test::tiny_run_config;

// The state a skipped step must leave alone: weights, EMA and AdamW (not the RNG, which
// draws the step's noise whether or not it is applied).
std::map<std::string, torch::Tensor> trained_state(const Trainer& trainer) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, tensor] : trainer.state_tensors()) {
    if (name.rfind("rng.", 0) != 0) out.emplace(name, tensor.clone());
  }
  return out;
}

bool byte_identical(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;
}

TEST(TrainNonFinite, FiftyInjectedFaultsAreEachSkippedWithStateByteIdentical) {
  constexpr int64_t kSteps = 90, kFaults = 50;
  auto config = tiny_run_config();
  config.train.steps = kSteps;
  config.train.max_skipped_in_a_row = 0;  // never stop: faults may come in long runs here
  // 50 distinct random steps, each a NaN loss or an Inf gradient entry.
  std::mt19937_64 rng(2026);
  std::vector<int64_t> all(kSteps);
  std::iota(all.begin(), all.end(), 1);
  std::shuffle(all.begin(), all.end(), rng);
  std::map<int64_t, Fault> faults;
  for (int64_t i = 0; i < kFaults; ++i) faults[all[i]] = (rng() & 1) ? Fault::kLoss : Fault::kGradient;

  vdm::test::TempDir dir;
  TrainerOptions options;
  options.run_dir = dir.file("run");
  options.inject_fault = [&](int64_t step) {
    const auto it = faults.find(step);
    return it == faults.end() ? Fault::kNone : it->second;
  };
  Trainer trainer(config, tiny_data(config), options);
  int64_t detected = 0, loss_faults = 0, checkpoints = 0;
  for (int64_t step = 1; step <= kSteps; ++step) {
    const auto it = faults.find(step);
    const bool injected = it != faults.end();
    const auto before = injected ? trained_state(trainer) : std::map<std::string, torch::Tensor>{};
    const auto r = trainer.step();
    ASSERT_EQ(r.skipped, injected) << "step " << step;
    if (!injected) {
      EXPECT_TRUE(std::isfinite(r.loss) && std::isfinite(r.grad_norm)) << "step " << step;
      if (step % 10 == 0) {  // checkpoints between faults hold only finite values
        const auto file = io::load_safetensors(trainer.save_checkpoint());
        for (const auto& [name, t] : file.tensors) {
          if (t.is_floating_point()) {
            ASSERT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
          }
        }
        ++checkpoints;
      }
      continue;
    }
    ++detected;
    if (it->second == Fault::kLoss) {
      ++loss_faults;
      EXPECT_TRUE(std::isnan(r.loss));
    } else {
      EXPECT_TRUE(std::isfinite(r.loss));
      EXPECT_TRUE(std::isinf(r.grad_norm));
    }
    const auto after = trained_state(trainer);
    ASSERT_EQ(after.size(), before.size()) << "step " << step;
    for (const auto& [name, t] : after) {
      ASSERT_TRUE(before.count(name)) << "step " << step << ": new state " << name;
      ASSERT_TRUE(byte_identical(before.at(name), t)) << "step " << step << ": " << name << " changed";
    }
  }
  EXPECT_EQ(detected, kFaults);
  EXPECT_EQ(trainer.skipped_steps(), kFaults);
  EXPECT_GT(loss_faults, 0);
  EXPECT_LT(loss_faults, kFaults);
  EXPECT_GT(checkpoints, 0);
  // The 40 good steps still trained: the weights moved from their initialisation.
  Trainer fresh(config, tiny_data(config));
  EXPECT_FALSE(torch::equal(fresh.model().state().front().second, trainer.model().state().front().second));
}

TEST(TrainNonFinite, TooManyInARowStopWithAClearErrorAndKeepTheProgress) {
  auto config = tiny_run_config();
  config.train.max_skipped_in_a_row = 3;
  config.train.checkpoint_every = 100;
  vdm::test::TempDir dir;
  TrainerOptions options;
  options.run_dir = dir.file("run");
  // Steps 3 and 5.. blow up: one isolated skip is tolerated, the run of 3 from step 5 is not.
  options.inject_fault = [](int64_t step) { return step == 3 || step >= 5 ? Fault::kLoss : Fault::kNone; };
  Trainer trainer(config, tiny_data(config), options);
  try {
    trainer.run(config.train.steps);
    FAIL() << "training went on after 3 non-finite steps in a row";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("max_skipped_in_a_row = 3"), std::string::npos) << message;
    EXPECT_NE(message.find("step 7"), std::string::npos) << message;
  }
  EXPECT_EQ(trainer.step_count(), 7);
  EXPECT_EQ(trainer.skipped_steps(), 4);
  // The progress of the good steps is checkpointed, finite, and resumable.
  const auto latest = latest_checkpoint(options.run_dir);
  ASSERT_TRUE(latest.has_value());
  const auto file = io::load_safetensors(*latest);
  for (const auto& [name, t] : file.tensors) {
    if (t.is_floating_point()) {
      EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    }
  }
  Trainer resumed(config, tiny_data(config));
  resumed.resume(*latest);
  EXPECT_EQ(resumed.step_count(), 7);
  EXPECT_EQ(resumed.skipped_steps(), 4);
}

}  // namespace
}  // namespace vdm::train
