// Crash safety of `vdm train` (the short version of the kill-and-resume harness): the binary is
// killed with SIGKILL at random moments, checkpoint writes included, and resumed each time.
// Every complete checkpoint must load, and the run must end with the weights and the loss
// sequence of a run that was never interrupted, bit for bit.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support/test_util.h"
#include "train/train_test_util.h"
#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/text_video_model.h"

namespace vdm::train {
namespace {

// Starts `vdm train` with `args` (output to /dev/null); returns its pid.
pid_t start_train(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    std::vector<char*> argv;
    std::string exe = VDM_CLI_PATH;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::vector<double> losses(const std::string& path) {
  std::vector<double> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(io::parse_json(line, path)["loss"].get<double>());
  }
  return out;
}

TEST(TrainCrash, KilledAtRandomMomentsAndResumedEndsBitIdentical) {
  vdm::test::TempDir dir;
  auto config = test::tiny_run_config();
  config.train.steps = 40;
  config.train.checkpoint_every = 2;
  config.train.keep_checkpoints = 2;
  vdm::test::write_bytes(dir.file("tiny.json"), config.to_json().dump(2));
  const std::vector<std::string> fresh = {"--threads", "1", "-q", "train", "--config", dir.file("tiny.json"),
                                          "--data", "synthetic:moving-shapes", "--out"};

  // Start-up time (a 1-step run), then the uninterrupted run, timed: each kill falls after the
  // start-up, within 60% of the time the remaining steps take.
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  };
  const auto one_start = std::chrono::steady_clock::now();
  ASSERT_EQ(vdm::test::run_vdm("--threads 1 -q train --config " + dir.file("tiny.json") +
                               " --data synthetic:moving-shapes --steps 1 --out " + dir.file("one"))
                .exit_code,
            0);
  const int64_t startup_ms = ms_since(one_start);
  const auto clean_start = std::chrono::steady_clock::now();
  auto r = vdm::test::run_vdm("--threads 1 -q train --config " + dir.file("tiny.json") +
                              " --data synthetic:moving-shapes --out " + dir.file("clean"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int64_t work_ms = std::max<int64_t>(ms_since(clean_start) - startup_ms, 50);

  // The interrupted one: kill, check the newest checkpoint loads, resume; until it finishes.
  const std::string run = dir.file("killed");
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> fraction(0.0, 0.6);
  // Four kills at random moments (a run that finishes first ends the rounds early), then
  // resumes until the run completes.
  int kills = 0, finished = 0;
  for (int attempt = 0; attempt < 100 && !finished; ++attempt) {
    std::vector<std::string> args = fresh;
    args.push_back(run);
    if (list_checkpoints(run).empty()) {
      std::filesystem::remove_all(run);  // killed before its first checkpoint: start over
    } else {
      args = {"--threads", "1", "-q", "train", "--out", run, "--resume"};
    }
    const pid_t pid = start_train(args);
    ASSERT_GT(pid, 0);
    const auto ckpts = list_checkpoints(run);
    const double remaining = 1.0 - (ckpts.empty() ? 0.0 : static_cast<double>(ckpts.back().first) / config.train.steps);
    const auto delay = startup_ms + static_cast<int64_t>(fraction(rng) * remaining * static_cast<double>(work_ms));
    const bool kill_this = kills < 4;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kill_this ? delay : 600000);
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++kills;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "vdm train failed on its own";
      finished = 1;
    }
    for (const auto& [step, path] : list_checkpoints(run)) {  // every complete checkpoint loads
      EXPECT_NO_THROW(load_text_video_model(path)) << path << " after kill " << kills;
    }
  }
  ASSERT_TRUE(finished) << "the run never finished";
  std::printf("killed %d times before the run finished\n", kills);
  EXPECT_GE(kills, 2);

  EXPECT_EQ(losses(run + "/train.jsonl"), losses(dir.file("clean/train.jsonl")));
  const auto a = io::load_safetensors(dir.file("clean/model.safetensors"));
  const auto b = io::load_safetensors(run + "/model.safetensors");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
  }
}

}  // namespace
}  // namespace vdm::train
