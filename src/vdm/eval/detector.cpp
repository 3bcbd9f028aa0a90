#include "vdm/eval/detector.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes_vocab.h"

namespace vdm::eval {
namespace {

std::string shape_of(const torch::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

}  // namespace
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  return v[mid];
}

// Step 2, per pixel of every frame (index f * HW + i).
struct PixelLabels {
  std::vector<int8_t> label;    // object colour, or -1: not (enough of) an object
  std::vector<int8_t> nearest;  // palette colour with the smallest residual, -1 if none fits
  std::vector<float> alpha;     // coverage by `nearest` (the blend weight), in [0, 1]
};

PixelLabels label_pixels(const float* rgb, const std::vector<std::array<float, 3>>& bg, int64_t F,
                         int64_t HW, const DetectorOptions& o) {
  const auto& pal = data::palette();
  const size_t K = pal.size();
  PixelLabels out;
  out.label.assign(static_cast<size_t>(F * HW), -1);
  out.nearest.assign(static_cast<size_t>(F * HW), -1);
  out.alpha.assign(static_cast<size_t>(F * HW), 0.f);
  const auto min_d2 = static_cast<float>(o.min_background_distance * o.min_background_distance);
  const auto max_r2 = static_cast<float>(o.max_residual * o.max_residual);
  for (int64_t f = 0; f < F; ++f) {
    const auto& b = bg[static_cast<size_t>(f)];
    std::vector<std::array<float, 3>> dir(K);  // c - b per palette colour
    std::vector<float> len2(K);
    for (size_t k = 0; k < K; ++k) {
      for (int ch = 0; ch < 3; ++ch) dir[k][ch] = pal[k].rgb[ch] - b[ch];
      len2[k] =
          std::max(1e-6f, dir[k][0] * dir[k][0] + dir[k][1] * dir[k][1] + dir[k][2] * dir[k][2]);
    }
    for (int64_t i = 0; i < HW; ++i) {
      float d[3];
      for (int ch = 0; ch < 3; ++ch) d[ch] = rgb[(ch * F + f) * HW + i] - b[ch];  // p - b
      int best = -1;
      float best_r2 = max_r2, best_alpha = 0;
      for (size_t k = 0; k < K; ++k) {
        const float dot = d[0] * dir[k][0] + d[1] * dir[k][1] + d[2] * dir[k][2];
        const float alpha = std::clamp(dot / len2[k], 0.f, 1.f);
        float r2 = 0;
        for (int ch = 0; ch < 3; ++ch) {
          const float e = d[ch] - alpha * dir[k][ch];
          r2 += e * e;
        }
        if (r2 < best_r2) best = static_cast<int>(k), best_r2 = r2, best_alpha = alpha;
      }
      const auto at = static_cast<size_t>(f * HW + i);
      out.nearest[at] = static_cast<int8_t>(best);
      out.alpha[at] = best_alpha;
      const float d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      if (best >= 0 && best_alpha >= o.min_alpha && d2 >= min_d2)
        out.label[at] = static_cast<int8_t>(best);
    }
  }
  return out;
}

// Step 3: the largest 8-connected component of `colour` in one frame, as pixel indices.
std::vector<int64_t> largest_component(const int8_t* labels, int colour, int64_t H, int64_t W,
                                       std::vector<uint8_t>& seen, std::vector<int64_t>& stack) {
  std::fill(seen.begin(), seen.end(), 0);
  std::vector<int64_t> best, current;
  for (int64_t start = 0; start < H * W; ++start) {
    if (labels[start] != colour || seen[static_cast<size_t>(start)]) continue;
    current.clear();
    stack.assign(1, start);
    seen[static_cast<size_t>(start)] = 1;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      current.push_back(i);
      const int64_t y = i / W, x = i % W;
      for (int64_t dy = -1; dy <= 1; ++dy) {
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const int64_t j = yy * W + xx;
          if (labels[j] == colour && !seen[static_cast<size_t>(j)]) {
            seen[static_cast<size_t>(j)] = 1;
            stack.push_back(j);
          }
        }
      }
    }
    if (current.size() > best.size()) best.swap(current);
  }
  return best;
}

// Least-squares slope of v over t.
double slope(const std::vector<double>& t, const std::vector<double>& v) {
  const double n = static_cast<double>(t.size());
  const double mt = std::accumulate(t.begin(), t.end(), 0.0) / n;
  const double mv = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double num = 0, den = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    num += (t[i] - mt) * (v[i] - mv);
    den += (t[i] - mt) * (t[i] - mt);
  }
  return den > 0 ? num / den : 0;
}

// Step 4 for one frame: the object's coverage (alpha of its colour, soft edges included) in
// its box grown by `margin` pixels, summed over rows and columns. Blurring moves coverage
// around but keeps its total, so these measures survive the blur of generated clips:
//   fill = area / (largest column sum * largest row sum): square 1, circle pi/4, triangle 1/2
//   skew = skewness of the row sums: 0 for the symmetric shapes, -0.57 for a triangle with
//          its apex up (mass piles up at the base); blur only shrinks it a little.
struct ShapeMeasures {
  double fill = 0, skew = 0;
};

ShapeMeasures measure_shape(const PixelLabels& px, int64_t offset, int colour, int64_t x0,
                            int64_t x1, int64_t y0, int64_t y1, int64_t H, int64_t W) {
  constexpr int64_t margin = 2;
  constexpr float kAlphaFloor = 0.25f;  // below: texture and noise, not object
  x0 = std::max<int64_t>(0, x0 - margin), x1 = std::min(W - 1, x1 + margin);
  y0 = std::max<int64_t>(0, y0 - margin), y1 = std::min(H - 1, y1 + margin);
  std::vector<double> rows(static_cast<size_t>(y1 - y0 + 1), 0.0),
      cols(static_cast<size_t>(x1 - x0 + 1), 0.0);
  for (int64_t y = y0; y <= y1; ++y) {
    for (int64_t x = x0; x <= x1; ++x) {
      const auto i = static_cast<size_t>(offset + y * W + x);
      if (px.nearest[i] != colour || px.alpha[i] < kAlphaFloor) continue;
      rows[static_cast<size_t>(y - y0)] += px.alpha[i];
      cols[static_cast<size_t>(x - x0)] += px.alpha[i];
    }
  }
  const double area = std::accumulate(rows.begin(), rows.end(), 0.0);
  const double max_row = *std::max_element(rows.begin(), rows.end());
  const double max_col = *std::max_element(cols.begin(), cols.end());
  ShapeMeasures m;
  if (area <= 0 || max_row <= 0 || max_col <= 0) return m;
  m.fill = area / (max_row * max_col);
  double mean = 0, m2 = 0, m3 = 0;
  for (size_t y = 0; y < rows.size(); ++y) mean += rows[y] * static_cast<double>(y);
  mean /= area;
  for (size_t y = 0; y < rows.size(); ++y) {
    const double d = static_cast<double>(y) - mean;
    m2 += rows[y] * d * d, m3 += rows[y] * d * d * d;
  }
  m2 /= area, m3 /= area;
  m.skew = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0;
  return m;
}

DetectedObject track_object(const PixelLabels& px, int colour, int64_t F, int64_t H, int64_t W,
                            const DetectorOptions& o) {
  DetectedObject obj;
  obj.colour = data::colour_names()[static_cast<size_t>(colour)];
  obj.centroids.assign(static_cast<size_t>(F), {kNaN, kNaN});
  obj.areas.assign(static_cast<size_t>(F), 0.0);
  obj.present.assign(static_cast<size_t>(F), false);
  obj.stable.assign(static_cast<size_t>(F), false);
  std::vector<ShapeMeasures> measures(static_cast<size_t>(F));
  std::vector<uint8_t> seen(static_cast<size_t>(H * W));
  std::vector<int64_t> stack;
  const double min_area = o.min_area_fraction * static_cast<double>(H * W);
  for (int64_t f = 0; f < F; ++f) {
    const auto comp = largest_component(px.label.data() + f * H * W, colour, H, W, seen, stack);
    const auto fi = static_cast<size_t>(f);
    if (comp.empty() || static_cast<double>(comp.size()) < min_area) continue;
    int64_t x0 = W, x1 = -1, y0 = H, y1 = -1;
    double sx = 0, sy = 0;
    for (const int64_t i : comp) {
      const int64_t y = i / W, x = i % W;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      sx += static_cast<double>(x), sy += static_cast<double>(y);
    }
    const auto area = static_cast<double>(comp.size());
    obj.areas[fi] = area;
    obj.centroids[fi] = {sx / area, sy / area};
    obj.present[fi] = true;
    measures[fi] = measure_shape(px, f * H * W, colour, x0, x1, y0, y1, H, W);
  }

  // Step 6 (and the per-clip medians of step 4).
  std::vector<double> present_areas, fills, skews;
  for (size_t f = 0; f < static_cast<size_t>(F); ++f) {
    if (!obj.present[f]) continue;
    present_areas.push_back(obj.areas[f]);
    fills.push_back(measures[f].fill);
    skews.push_back(measures[f].skew);
  }
  const double median_area = median(present_areas);
  for (size_t f = 0; f < static_cast<size_t>(F); ++f)
    obj.stable[f] = obj.present[f] && std::abs(obj.areas[f] / median_area - 1) <= o.size_tolerance;
  obj.fill_ratio = median(fills);
  obj.skew = median(skews);
  obj.shape = obj.skew <= o.triangle_skew       ? "triangle"
              : obj.fill_ratio >= o.square_fill ? "square"
                                                : "circle";

  // Step 5: velocity over the first half (frames 0 .. ceil((F - 1) / 2)), all frames if
  // fewer than two are present there.
  const int64_t half_end = F - 1 - (F - 1) / 2;
  auto velocity = centroid_velocity(obj, 0, half_end + 1);
  if (!velocity) velocity = centroid_velocity(obj, 0, F);
  if (velocity) obj.velocity = *velocity;
  obj.direction = direction_of(obj.velocity[0], obj.velocity[1],
                               o.dead_zone * static_cast<double>(std::min(H, W)));
  return obj;
}

}  // namespace

std::optional<std::array<double, 2>> centroid_velocity(const DetectedObject& o, int64_t begin, int64_t end) {
  std::vector<double> t, x, y;
  for (int64_t f = std::max<int64_t>(begin, 0); f < end && f < static_cast<int64_t>(o.present.size()); ++f) {
    if (!o.present[static_cast<size_t>(f)]) continue;
    t.push_back(static_cast<double>(f));
    x.push_back(o.centroids[static_cast<size_t>(f)][0]);
    y.push_back(o.centroids[static_cast<size_t>(f)][1]);
  }
  if (t.size() < 2) return std::nullopt;
  return std::array<double, 2>{slope(t, x), slope(t, y)};
}

// Step 5: eight 45-degree sectors of the velocity (y down), or "none".
std::string direction_of(double vx, double vy, double dead_zone) {
  if (std::hypot(vx, vy) < dead_zone) return "none";
  const double angle = std::atan2(-vy, vx);  // counter-clockwise from right, y up
  const int sector = static_cast<int>(std::lround(angle / (kPi / 4))) & 7;
  static const char* kNames[8] = {"right", "up-right",  "up",   "up-left",
                                  "left",  "down-left", "down", "down-right"};
  return kNames[sector];
}

double DetectedObject::present_fraction() const {
  if (present.empty()) return 0;
  return static_cast<double>(std::count(present.begin(), present.end(), true)) /
         static_cast<double>(present.size());
}

double DetectedObject::stable_fraction() const {
  if (stable.empty()) return 0;
  return static_cast<double>(std::count(stable.begin(), stable.end(), true)) /
         static_cast<double>(stable.size());
}

Detection detect(const torch::Tensor& clip, const DetectorOptions& o) {
  VDM_CHECK(clip.dim() == 4 && clip.size(0) == 3 && clip.size(1) >= 1 && clip.size(2) >= 1 &&
                clip.size(3) >= 1,
            "detect: clip must be [3, F, H, W] with F, H, W >= 1, got {}", shape_of(clip));
  VDM_CHECK(clip.is_floating_point(), "detect: clip must be floating point in [-1, 1], got {}",
            c10::toString(clip.scalar_type()));
  VDM_CHECK(o.max_objects >= 1 && o.min_alpha > 0 && o.min_alpha <= 1 && o.max_residual > 0,
            "detect: need max_objects >= 1, 0 < min_alpha <= 1 and max_residual > 0; got {}, {}, "
            "{}",
            o.max_objects, o.min_alpha, o.max_residual);
  const int64_t F = clip.size(1), H = clip.size(2), W = clip.size(3), HW = H * W;
  // [-1, 1] -> [0, 1], the units of the palette and of every distance in DetectorOptions.
  const auto rgb = ((clip.detach().to(torch::kCPU, torch::kFloat) + 1) * 0.5)
                       .clamp(0, 1)
                       .contiguous();  // [3, F, H, W]

  // Step 1: background = per-frame, per-channel median.
  const auto med = std::get<0>(rgb.reshape({3, F, HW}).median(-1)).contiguous();  // [3, F]
  const auto med_at = med.accessor<float, 2>();
  std::vector<std::array<float, 3>> bg(static_cast<size_t>(F));
  for (int64_t f = 0; f < F; ++f)
    for (int ch = 0; ch < 3; ++ch) bg[static_cast<size_t>(f)][ch] = med_at[ch][f];

  const auto px = label_pixels(rgb.data_ptr<float>(), bg, F, HW, o);

  // Step 3: colours by pixel count; each one with enough pixels is an object.
  std::vector<int64_t> counts(data::palette().size(), 0);
  for (const int8_t l : px.label)
    if (l >= 0) ++counts[static_cast<size_t>(l)];
  std::vector<int> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return counts[a] > counts[b]; });

  Detection detection;
  const double min_pixels = o.min_area_fraction * static_cast<double>(HW);
  for (const int colour : order) {
    const auto n = static_cast<double>(counts[static_cast<size_t>(colour)]);
    if (static_cast<int>(detection.objects.size()) >= o.max_objects || n < min_pixels) break;
    if (!detection.objects.empty() &&
        n < o.second_object_fraction * static_cast<double>(detection.objects[0].pixels))
      break;
    auto obj = track_object(px, colour, F, H, W, o);
    obj.pixels = counts[static_cast<size_t>(colour)];
    if (obj.present_fraction() > 0) detection.objects.push_back(std::move(obj));
  }
  return detection;
}

}  // namespace vdm::eval
