// Progress reporting for long work (sampling loops, training, video encoding).
// On a terminal the bar is redrawn in place; when the stream is not a terminal (a log file,
// CI) it prints a plain line at most every `line_interval_s` seconds and one at the end.
// Disabled progress (--quiet) prints nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace vdm {

struct ProgressOptions {
  bool enabled = true;
  double line_interval_s = 5.0;  // plain-line mode only: a line every few seconds is enough
  std::FILE* stream = stderr;    // stdout stays free for results
};

class Progress {
 public:
  Progress(std::string label, int64_t total, ProgressOptions options = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Marks `n` more units done; `note` (e.g. "loss 0.031") is shown after the counts.
  void advance(int64_t n = 1, const std::string& note = {});
  // Prints the final state once; later calls do nothing.
  void finish();

  int64_t done() const { return done_; }
  double elapsed_s() const;

 private:
  void draw(bool final);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  std::string note_;
  ProgressOptions options_;
  bool tty_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace vdm
