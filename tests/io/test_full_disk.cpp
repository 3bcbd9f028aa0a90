// A full disk (reliability issue): writes that fail for lack of space report a clear error and
// leave the previous file intact, with no temporary file behind. The disk is "full" through
// the file-size limit (RLIMIT_FSIZE, what `ulimit -f` sets): past it, write() fails with
// EFBIG exactly where a full disk fails with ENOSPC, and no special mount is needed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "support/test_util.h"
#include "train/train_test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/safetensors.h"
#include "vdm/io/video.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/trainer.h"

namespace vdm {
namespace {

namespace fs = std::filesystem;

// Lowers this process's file-size limit for its lifetime (and ignores SIGXFSZ, as the CLI does).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lower = saved_;
    lower.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &lower), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = SIG_DFL;
};

std::vector<std::string> folder_listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// `write` must throw vdm::Error naming `path`, leave its old bytes and add no file to its folder.
template <typename Write>
void expect_failed_write_keeps_old(const std::string& path, Write&& write) {
  const auto old_bytes = test::read_bytes(path);
  const auto before = folder_listing(fs::path(path).parent_path().string());
  try {
    write();
    FAIL() << "a write past the size limit succeeded: " << path;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(fs::path(path).filename().string()), std::string::npos) << message;
    EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  }
  EXPECT_EQ(test::read_bytes(path), old_bytes) << "the previous file was damaged";
  EXPECT_EQ(folder_listing(fs::path(path).parent_path().string()), before) << "a temporary file was left";
}

TEST(FullDisk, SafetensorsWriteFailsCleanlyAndKeepsThePreviousFile) {
  test::TempDir dir;
  const auto path = dir.file("weights.safetensors");
  io::save_safetensors(path, {{"w", torch::ones({4})}});
  FileSizeLimit limit(4096);
  expect_failed_write_keeps_old(path, [&] { io::save_safetensors(path, {{"w", torch::randn({64, 64})}}); });
}

TEST(FullDisk, CheckpointWriteFailsCleanlyAndThePreviousCheckpointStillLoads) {
  test::TempDir dir;
  auto config = train::test::tiny_run_config();
  train::TrainerOptions options;
  options.run_dir = dir.file("run");
  train::Trainer trainer(config, train::test::tiny_data(config), options);
  trainer.step();
  const auto good = trainer.save_checkpoint();
  trainer.step();
  {
    FileSizeLimit limit(4096);
    expect_failed_write_keeps_old(good, [&] { trainer.save_checkpoint(good); });
    EXPECT_THROW(trainer.save_checkpoint(), Error);  // into a new name: nothing is left either
  }
  const auto checkpoints = train::list_checkpoints(options.run_dir);
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].second, good);
  EXPECT_TRUE(train::partial_writes(options.run_dir).empty());
  train::Trainer resumed(config, train::test::tiny_data(config));
  resumed.resume(good);
  EXPECT_EQ(resumed.step_count(), 1);
}

#if VDM_WITH_FFMPEG
TEST(FullDisk, VideoWriteFailsCleanlyAndKeepsThePreviousVideo) {
  test::TempDir dir;
  const auto clip = torch::rand({3, 8, 64, 64}) * 2 - 1;
  for (const std::string ext : {".mp4", ".gif", ".webm"}) {
    const auto path = dir.file("clip" + ext);
    io::write_video(path, torch::zeros({3, 2, 16, 16}));
    FileSizeLimit limit(2048);
    expect_failed_write_keeps_old(path, [&] { io::write_video(path, clip); });
  }
}

TEST(FullDisk, CliExitsWithAnErrorAndKeepsTheFileItWouldReplace) {
  test::TempDir dir;
  const auto out = dir.file("clip.mp4");
  test::write_bytes(out, "the previous video");
  // 8 blocks of 512 bytes: the model loads (reads are not limited); the video does not fit.
  const std::string command = "ulimit -f 8 && " + std::string(VDM_CLI_PATH) +
                              " --threads 1 generate \"a red circle moving right\" --steps 2 -o " + out + " 2>&1";
  std::string output;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << "vdm died of a signal: " << output;
  EXPECT_EQ(WEXITSTATUS(status), 1) << output;
  EXPECT_NE(output.find("error: "), std::string::npos) << output;
  EXPECT_NE(output.find("clip.mp4"), std::string::npos) << output;
  EXPECT_EQ(test::read_bytes(out), "the previous video");
  EXPECT_EQ(folder_listing(dir.path().string()), std::vector<std::string>{"clip.mp4"});
}
#endif

}  // namespace
}  // namespace vdm
