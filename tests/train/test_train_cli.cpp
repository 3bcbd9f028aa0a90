// `vdm train` through the binary: a few steps of a tiny config, resume, and flag errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_util.h"
#include "train/train_test_util.h"
#include "vdm/io/json.h"
#include "vdm/train/checkpoint.h"

namespace vdm::train {
namespace {

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

TEST(TrainCli, RunsAFewStepsOnTheSyntheticSetAndResumes) {
  vdm::test::TempDir dir;
  auto config = test::tiny_run_config();
  config.train.checkpoint_every = 2;
  vdm::test::write_bytes(dir.file("tiny.json"), config.to_json().dump(2));
  const std::string run = dir.file("run");

  auto r = vdm::test::run_vdm("train --config " + dir.file("tiny.json") + " --data synthetic:moving-shapes --out " +
                              run + " --steps 3 --threads 1 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("trained steps 0..3 of 3"), std::string::npos) << r.output;
  EXPECT_EQ(count_lines(run + "/train.jsonl"), 3);
  EXPECT_TRUE(std::filesystem::is_regular_file(run + "/model.safetensors"));
  EXPECT_TRUE(std::filesystem::is_regular_file(run + "/loss.png"));
  EXPECT_EQ(list_checkpoints(run).back().first, 3);

  // Training again into the same folder needs --resume; with it (and no --config or --data:
  // both come from the checkpoint) the run goes on to the new total.
  r = vdm::test::run_vdm("train --config " + dir.file("tiny.json") + " --data synthetic:moving-shapes --out " + run +
                         " --steps 3 -q");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  r = vdm::test::run_vdm("train --out " + run + " --resume --steps 5 --threads 1 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3..5 of 5"), std::string::npos) << r.output;
  EXPECT_EQ(count_lines(run + "/train.jsonl"), 5);
}

TEST(TrainCli, BadFlagsExitWithUsageErrors) {
  vdm::test::TempDir dir;
  vdm::test::write_bytes(dir.file("tiny.json"), test::tiny_run_config().to_json().dump());
  const std::string base = "train --config " + dir.file("tiny.json") + " --out " + dir.file("run");
  auto r = vdm::test::run_vdm(base);  // no --data
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--data"), std::string::npos) << r.output;
  r = vdm::test::run_vdm(base + " --data synthetic:moving-shapes --steps 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = vdm::test::run_vdm(base + " --data synthetic:moving-shapes --precision f16");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = vdm::test::run_vdm("train --out " + dir.file("empty") + " --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no checkpoint"), std::string::npos) << r.output;
  r = vdm::test::run_vdm(base + " --data synthetic:nothing");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("moving-shapes"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace vdm::train
