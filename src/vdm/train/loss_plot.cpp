#include "vdm/train/loss_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "vdm/core/error.h"
#include "vdm/io/video.h"

namespace vdm::train {

namespace {

using Rgb = std::array<float, 3>;  // in [0, 1]

// A canvas of H x W RGB pixels, row-major.
struct Canvas {
  int64_t w, h;
  std::vector<float> px;  // [H, W, 3]
  Canvas(int64_t width, int64_t height) : w(width), h(height), px(static_cast<size_t>(width * height * 3), 1.0f) {}

  void set(int64_t x, int64_t y, const Rgb& c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    float* p = &px[static_cast<size_t>((y * w + x) * 3)];
    p[0] = c[0], p[1] = c[1], p[2] = c[2];
  }
  // Bresenham (1965), one pixel wide.
  void line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, const Rgb& c) {
    const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int64_t err = dx + dy;
    for (;;) {
      set(x0, y0, c);
      if (x0 == x1 && y0 == y1) break;
      const int64_t e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  void thick_line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, const Rgb& c) {
    line(x0, y0, x1, y1, c);
    line(x0, y0 + 1, x1, y1 + 1, c);
  }
};

// 3x5 glyphs, one row per string, '#' set.
const std::map<char, std::array<const char*, 5>>& font() {
  static const std::map<char, std::array<const char*, 5>> glyphs = {
      {'0', {"###", "#.#", "#.#", "#.#", "###"}}, {'1', {".#.", "##.", ".#.", ".#.", "###"}},
      {'2', {"###", "..#", "###", "#..", "###"}}, {'3', {"###", "..#", "###", "..#", "###"}},
      {'4', {"#.#", "#.#", "###", "..#", "..#"}}, {'5', {"###", "#..", "###", "..#", "###"}},
      {'6', {"###", "#..", "###", "#.#", "###"}}, {'7', {"###", "..#", "..#", "..#", "..#"}},
      {'8', {"###", "#.#", "###", "#.#", "###"}}, {'9', {"###", "#.#", "###", "..#", "###"}},
      {'.', {"...", "...", "...", "...", ".#."}}, {'-', {"...", "...", "###", "...", "..."}},
      {'e', {"...", "###", "#.#", "##.", "###"}}, {'l', {"#..", "#..", "#..", "#..", "###"}},
      {'o', {"...", "###", "#.#", "#.#", "###"}}, {'s', {"...", ".##", "#..", "..#", "##."}},
      {'t', {".#.", "###", ".#.", ".#.", ".##"}}, {'p', {"...", "###", "#.#", "###", "#.."}},
      {' ', {"...", "...", "...", "...", "..."}}, {':', {"...", ".#.", "...", ".#.", "..."}},
  };
  return glyphs;
}

// Text with its top-left corner at (x, y), each font pixel `scale` pixels wide.
void text(Canvas& canvas, int64_t x, int64_t y, const std::string& s, const Rgb& c, int64_t scale = 2) {
  for (char ch : s) {
    const auto it = font().find(ch);
    if (it != font().end()) {
      for (int64_t r = 0; r < 5; ++r) {
        for (int64_t col = 0; col < 3; ++col) {
          if (it->second[static_cast<size_t>(r)][col] != '#') continue;
          for (int64_t dy = 0; dy < scale; ++dy) {
            for (int64_t dx = 0; dx < scale; ++dx) canvas.set(x + col * scale + dx, y + r * scale + dy, c);
          }
        }
      }
    }
    x += 4 * scale;
  }
}

int64_t text_width(const std::string& s, int64_t scale = 2) { return static_cast<int64_t>(s.size()) * 4 * scale; }

std::string short_number(double v) {
  std::string s = fmt::format("{:.3g}", v);
  // fmt writes "1e-05"; drop the exponent's leading zero for the tiny font.
  const auto e = s.find("e-0");
  if (e != std::string::npos) s.erase(e + 2, 1);
  return s;
}

}  // namespace

torch::Tensor render_loss_plot(const std::vector<std::pair<int64_t, double>>& points,
                               const LossPlotOptions& options) {
  VDM_CHECK(options.width >= 64 && options.height >= 64 && options.width <= 8192 && options.height <= 8192,
            "loss plot: size {}x{} out of range [64, 8192]", options.width, options.height);
  Canvas canvas(options.width, options.height);
  const Rgb axis{0.2f, 0.2f, 0.2f}, grid{0.88f, 0.88f, 0.88f}, raw{0.65f, 0.75f, 0.95f}, smooth{0.05f, 0.2f, 0.6f};
  const int64_t left = 70, right = options.width - 15, top = 25, bottom = options.height - 30;

  std::vector<std::pair<double, double>> pts;  // (step, log10 loss)
  for (const auto& [step, loss] : points) {
    if (std::isfinite(loss) && loss > 0) pts.emplace_back(static_cast<double>(step), std::log10(loss));
  }
  text(canvas, left, 6, "loss", axis);
  canvas.line(left, top, left, bottom, axis);
  canvas.line(left, bottom, right, bottom, axis);
  if (!pts.empty()) {
    double x0 = pts.front().first, x1 = pts.front().first, y0 = pts.front().second, y1 = pts.front().second;
    for (const auto& [x, y] : pts) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (x1 == x0) x1 = x0 + 1;
    if (y1 - y0 < 1e-3) y0 -= 0.05, y1 += 0.05;
    const double pad = 0.03 * (y1 - y0);
    y0 -= pad, y1 += pad;
    auto px = [&](double x) { return left + static_cast<int64_t>(std::lround((x - x0) / (x1 - x0) * (right - left))); };
    auto py = [&](double y) { return bottom - static_cast<int64_t>(std::lround((y - y0) / (y1 - y0) * (bottom - top))); };
    // Grid at powers of ten (and at 2x and 5x when the range is under two decades).
    for (int64_t k = static_cast<int64_t>(std::floor(y0)); k <= static_cast<int64_t>(std::ceil(y1)); ++k) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && y1 - y0 > 2) continue;
        const double y = static_cast<double>(k) + std::log10(m);
        if (y < y0 || y > y1) continue;
        const int64_t row = py(y);
        canvas.line(left + 1, row, right, row, grid);
        if (row - top < 14 || bottom - row < 14) continue;  // the range labels below sit there
        const std::string label = short_number(std::pow(10.0, y));
        text(canvas, left - 6 - text_width(label), row - 5, label, axis);
      }
    }
    // The range itself, at the top and bottom of the axis.
    for (const double y : {y0, y1}) {
      const std::string label = short_number(std::pow(10.0, y));
      text(canvas, left - 6 - text_width(label), py(y) - 5, label, axis);
    }
    // Raw losses, then a centred moving average on top.
    for (size_t i = 1; i < pts.size(); ++i) {
      canvas.line(px(pts[i - 1].first), py(pts[i - 1].second), px(pts[i].first), py(pts[i].second), raw);
    }
    const int64_t n = static_cast<int64_t>(pts.size());
    const int64_t half = std::max<int64_t>(1, n / 100);
    std::vector<double> prefix(static_cast<size_t>(n + 1), 0.0);
    for (int64_t i = 0; i < n; ++i) prefix[static_cast<size_t>(i + 1)] = prefix[static_cast<size_t>(i)] + pts[static_cast<size_t>(i)].second;
    int64_t prev_x = 0, prev_y = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = std::max<int64_t>(0, i - half), b = std::min<int64_t>(n, i + half + 1);
      const double mean = (prefix[static_cast<size_t>(b)] - prefix[static_cast<size_t>(a)]) / static_cast<double>(b - a);
      const int64_t x = px(pts[static_cast<size_t>(i)].first), y = py(mean);
      if (i > 0) canvas.thick_line(prev_x, prev_y, x, y, smooth);
      prev_x = x, prev_y = y;
    }
    const std::string first = fmt::format("{}", static_cast<int64_t>(x0)), last = fmt::format("{}", static_cast<int64_t>(x1));
    text(canvas, left, bottom + 8, first, axis);
    text(canvas, right - text_width(last), bottom + 8, last, axis);
    text(canvas, (left + right) / 2 - text_width("step") / 2, bottom + 8, "step", axis);
  }
  auto image = torch::from_blob(canvas.px.data(), {options.height, options.width, 3}, torch::kFloat32)
                   .permute({2, 0, 1})
                   .clone();  // h w c -> c h w
  return image * 2.0 - 1.0;  // [3, H, W] in [-1, 1]
}

void write_png(const std::string& path, const torch::Tensor& image) {
  namespace fs = std::filesystem;
  VDM_CHECK(image.dim() == 3 && image.size(0) == 3, "write_png: expected a [3, H, W] image, got {} dims", image.dim());
  std::random_device rd;
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / fmt::format(".{}.tmp{}", target.filename().string(), rd());
  std::error_code ec;
  try {
    io::write_video(tmp.string() + "/", image.unsqueeze(1));  // [3, 1, H, W] -> tmp/frame_00000.png
    fs::rename(tmp / "frame_00000.png", target, ec);
    VDM_CHECK(!ec, "write_png: could not move the PNG to {}: {}", path, ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(tmp, ec);
}

void write_loss_plot(const std::string& path, const std::vector<std::pair<int64_t, double>>& points,
                     const LossPlotOptions& options) {
  write_png(path, render_loss_plot(points, options));
}

}  // namespace vdm::train
