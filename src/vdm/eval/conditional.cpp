#include "vdm/eval/conditional.h"

#include <algorithm>
#include <cmath>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes_vocab.h"

namespace vdm::eval {

namespace {

// The detected object of `colour`, else the one with the most pixels; none if nothing found.
const DetectedObject* pick(const Detection& detection, const std::string& colour) {
  for (const auto& o : detection.objects) {
    if (o.colour == colour) return &o;
  }
  return detection.objects.empty() ? nullptr : &detection.objects.front();
}

}  // namespace

ExtensionScore score_extension(const torch::Tensor& clip, int64_t given, const std::string& caption, int64_t span,
                               const DetectorOptions& options) {
  VDM_CHECK(clip.dim() == 4 && given >= 2 && given < clip.size(1) && span >= 2,
            "score_extension: need a [3, F, H, W] clip with 2 <= given < F frames given and span >= 2");
  const auto expected = data::parse_caption(caption);
  VDM_CHECK(!expected.empty(), "score_extension: empty caption");
  const auto& want = expected.front();
  ExtensionScore s;
  const auto fresh = detect(clip.slice(1, given, clip.size(1)), options);
  if (const auto* o = pick(fresh, want.colour)) {
    s.found = true;
    s.colour = o->colour == want.colour;
    s.shape = o->shape == want.shape;
  }
  const auto whole = detect(clip, options);
  if (const auto* o = pick(whole, want.colour)) {
    const double dead_zone = options.dead_zone * static_cast<double>(std::min(clip.size(2), clip.size(3)));
    const auto before = centroid_velocity(*o, given - span, given);
    const auto after = centroid_velocity(*o, given, given + span);
    if (before) s.given_direction = direction_of((*before)[0], (*before)[1], dead_zone);
    if (after) s.new_direction = direction_of((*after)[0], (*after)[1], dead_zone);
    s.direction = before && after && s.given_direction == s.new_direction && s.new_direction != "none";
  }
  return s;
}

InterpolationScore score_interpolation(const torch::Tensor& clip, int64_t factor,
                                       const InterpolationTolerance& tolerance, const DetectorOptions& options) {
  VDM_CHECK(clip.dim() == 4 && factor >= 2 && clip.size(1) >= factor + 1,
            "score_interpolation: need a [3, F, H, W] clip with F > factor >= 2");
  InterpolationScore s;
  const auto detection = detect(clip, options);
  const DetectedObject* o = detection.objects.empty() ? nullptr : &detection.objects.front();
  const int64_t frames = clip.size(1);
  for (int64_t j = 0; j < frames; ++j) {
    if (j % factor == 0) continue;
    const int64_t a = j / factor * factor, b = a + factor;
    if (b >= frames) continue;  // no given frame after it
    ++s.new_frames;
    if (!o || !o->present[static_cast<size_t>(j)]) {
      ++s.missing;
      continue;
    }
    if (!o->present[static_cast<size_t>(a)] || !o->present[static_cast<size_t>(b)]) continue;
    const auto& ca = o->centroids[static_cast<size_t>(a)];
    const auto& cb = o->centroids[static_cast<size_t>(b)];
    const auto& cj = o->centroids[static_cast<size_t>(j)];
    const double dx = cb[0] - ca[0], dy = cb[1] - ca[1], len2 = dx * dx + dy * dy;
    const double ex = cj[0] - ca[0], ey = cj[1] - ca[1];
    bool between;
    if (len2 < tolerance.max_offset_px * tolerance.max_offset_px) {
      between = std::hypot(ex, ey) <= tolerance.max_offset_px;
    } else {
      const double along = (ex * dx + ey * dy) / len2;
      const double offset = std::abs(ex * dy - ey * dx) / std::sqrt(len2);
      between = along >= -tolerance.along && along <= 1 + tolerance.along && offset <= tolerance.max_offset_px;
    }
    if (between) ++s.between;
  }
  return s;
}

}  // namespace vdm::eval
