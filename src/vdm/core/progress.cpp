#include "vdm/core/progress.h"

#include <unistd.h>

#include <fmt/format.h>

namespace vdm {

Progress::Progress(std::string label, int64_t total, ProgressOptions options)
    : label_(std::move(label)), total_(total), options_(options) {
  tty_ = options_.stream != nullptr && isatty(fileno(options_.stream)) == 1;
  start_ = last_draw_ = std::chrono::steady_clock::now();
  if (options_.enabled && tty_) draw(false);
}

Progress::~Progress() { finish(); }

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n, const std::string& note) {
  done_ += n;
  if (!note.empty()) note_ = note;
  if (!options_.enabled || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal redraws at most ~10 times a second; a log gets a line every interval.
  if (since >= (tty_ ? 0.1 : options_.line_interval_s)) draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (options_.enabled) draw(true);
}

static std::string format_seconds(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const int total = static_cast<int>(s + 0.5);
  if (total < 3600) return fmt::format("{}m{:02d}s", total / 60, total % 60);
  return fmt::format("{}h{:02d}m", total / 3600, (total % 3600) / 60);
}

void Progress::draw(bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  const double t = elapsed_s();
  const double rate = t > 0 ? done_ / t : 0.0;
  std::string counts = total_ > 0 ? fmt::format("{}/{}", done_, total_) : fmt::format("{}", done_);
  std::string timing = fmt::format("{:.2f} it/s, {}", rate, format_seconds(t));
  if (!final && total_ > 0 && rate > 0) {
    timing += fmt::format(", eta {}", format_seconds((total_ - done_) / rate));
  }
  const std::string note = note_.empty() ? "" : "  " + note_;
  if (tty_) {
    std::string bar;
    if (total_ > 0) {
      const int width = 24;
      const int filled = static_cast<int>(width * std::min<int64_t>(done_, total_) / total_);
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    fmt::print(options_.stream, "\r\033[2K{} {}{} ({}){}", label_, bar, counts, timing, note);
    if (final) fmt::print(options_.stream, "\n");
  } else {
    fmt::print(options_.stream, "{}: {} ({}){}\n", label_, counts, timing, note);
  }
  std::fflush(options_.stream);
}

}  // namespace vdm
