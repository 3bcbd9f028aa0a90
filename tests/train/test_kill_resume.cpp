// Crash safety of `vdm train` (the short version of the kill-and-resume harness): the binary is
// killed with SIGKILL at random moments, checkpoint writes included, and resumed each time.
// Every complete checkpoint must load, and the run must end with the weights and the loss
// sequence of a run that was never interrupted, bit for bit.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
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

// Waits (up to timeout_ms) until a file whose name starts with '.' (io/atomic_file.h's
// temporary files) is created in `dir`, the moment a checkpoint write begins. True if one was.
bool wait_for_write_start(int inotify_fd, int timeout_ms) {
  alignas(inotify_event) char buffer[4096];
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{inotify_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::read(inotify_fd, buffer, sizeof(buffer));
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (event->len > 0 && event->name[0] == '.') return true;
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
}

// The number of kills: 4 in CI; the long run in docs/reliability.md sets VDM_KILLS=200.
int kills_wanted() {
  const char* env = std::getenv("VDM_KILLS");
  return env && *env ? std::max(1, std::atoi(env)) : 4;
}

TEST(TrainCrash, KilledAtRandomMomentsAndResumedEndsBitIdentical) {
  const int wanted = kills_wanted();
  vdm::test::TempDir dir;
  auto config = test::tiny_run_config();
  // Long enough that the run outlasts the kills (each round makes a few steps of progress).
  config.train.steps = std::max(40, 3 * wanted);
  config.train.checkpoint_every = 1;  // a checkpoint write in every step: kills land in writes
  config.train.keep_checkpoints = 2;
  config.train.plot_every = 1000000;
  vdm::test::write_bytes(dir.file("tiny.json"), config.to_json().dump(2));
  const std::vector<std::string> fresh = {"--threads", "1", "-q", "train", "--config", dir.file("tiny.json"),
                                          "--data", "synthetic:moving-shapes", "--out"};

  // Start-up time (a 1-step run) and the time of a step, from the uninterrupted run.
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
  const double step_ms =
      std::max<double>(static_cast<double>(ms_since(clean_start) - startup_ms), 50.0) / config.train.steps;

  // The interrupted run: start (or resume), kill, look at what is on disk, repeat; then resume
  // without kills until it finishes. Every other kill lands at a random moment from late in
  // start-up (loading the checkpoint) to a few steps in; the others are aimed at a checkpoint
  // write: the harness watches the checkpoint folder (inotify) and kills when a temporary file
  // appears, after a random delay of up to half a millisecond.
  const std::string run = dir.file("killed");
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int kills = 0, in_write = 0, lost = 0, corrupt = 0, finished = 0;
  int64_t newest = -1;  // the newest complete checkpoint seen so far
  for (int attempt = 0; attempt < 20 * wanted + 100 && !finished; ++attempt) {
    std::vector<std::string> args = fresh;
    args.push_back(run);
    if (list_checkpoints(run).empty()) {
      std::filesystem::remove_all(run);  // killed before its first checkpoint: start over
    } else {
      args = {"--threads", "1", "-q", "train", "--out", run, "--resume"};
    }
    std::filesystem::create_directories(run + "/checkpoints");
    const int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(watch, 0);
    ASSERT_GE(::inotify_add_watch(watch, (run + "/checkpoints").c_str(), IN_CREATE), 0);
    const pid_t pid = start_train(args);
    ASSERT_GT(pid, 0);
    const bool kill_this = kills < wanted;
    bool aimed = false;
    if (kill_this && kills % 2 == 1 &&
        wait_for_write_start(watch, static_cast<int>(3 * startup_ms + 20 * step_ms))) {
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(unit(rng) * 500)));
      kill(pid, SIGKILL);
      aimed = true;
    }
    ::close(watch);
    const auto delay = static_cast<int64_t>(0.7 * static_cast<double>(startup_ms) +
                                            unit(rng) * (0.4 * static_cast<double>(startup_ms) + 6 * step_ms));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kill_this ? delay : 600000);
    int status = 0;
    pid_t done = 0;
    while (!aimed && (done = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (aimed || done == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (WIFSIGNALED(status)) {
      ++kills;
      if (!partial_writes(run).empty()) ++in_write;  // killed between creating and renaming a file
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "vdm train failed on its own";
      finished = 1;
    }
    const auto checkpoints = list_checkpoints(run);
    if (!checkpoints.empty() || newest >= 0) {
      // No complete checkpoint is ever lost: the newest one is at least the previous newest.
      if (checkpoints.empty() || checkpoints.back().first < newest) ++lost;
      if (!checkpoints.empty()) newest = std::max(newest, checkpoints.back().first);
    }
    for (const auto& [step, path] : checkpoints) {  // every complete checkpoint loads
      try {
        load_text_video_model(path);
      } catch (const std::exception& e) {
        ++corrupt;
        ADD_FAILURE() << path << " after kill " << kills << ": " << e.what();
      }
    }
  }
  ASSERT_TRUE(finished) << "the run never finished";
  std::printf("kills: %d (%d during a file write); lost checkpoints: %d; corrupt checkpoints: %d\n", kills,
              in_write, lost, corrupt);
  EXPECT_EQ(kills, wanted);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(corrupt, 0);
  EXPECT_TRUE(partial_writes(run).empty()) << "a finished run leaves no partial files";

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
