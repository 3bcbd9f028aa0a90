#include "vdm/eval/report.h"

#include <fmt/format.h>

namespace vdm::eval {

ClipScore score(const Detection& detection, const std::vector<data::ObjectCaption>& expected) {
  ClipScore result;
  std::vector<bool> used(detection.objects.size(), false);
  std::vector<int> match(expected.size(), -1);
  // First by colour, then leftovers in order.
  for (size_t e = 0; e < expected.size(); ++e) {
    for (size_t d = 0; d < detection.objects.size(); ++d) {
      if (!used[d] && detection.objects[d].colour == expected[e].colour) {
        match[e] = static_cast<int>(d), used[d] = true;
        break;
      }
    }
  }
  for (size_t e = 0; e < expected.size(); ++e) {
    for (size_t d = 0; d < detection.objects.size() && match[e] < 0; ++d)
      if (!used[d]) match[e] = static_cast<int>(d), used[d] = true;
  }
  for (size_t e = 0; e < expected.size(); ++e) {
    ObjectScore s;
    s.expected = expected[e];
    if (match[e] >= 0) {
      const auto& obj = detection.objects[static_cast<size_t>(match[e])];
      s.found = true;
      s.colour = obj.colour == expected[e].colour;
      s.shape = obj.shape == expected[e].shape;
      s.direction = obj.direction == expected[e].direction;
      s.present_fraction = obj.present_fraction();
      s.stable_fraction = obj.stable_fraction();
    }
    result.objects.push_back(s);
  }
  result.extra_objects = static_cast<int64_t>(std::count(used.begin(), used.end(), false));
  return result;
}

ClipScore score(const Detection& detection, const std::string& caption) {
  return score(detection, data::parse_caption(caption));
}

void EvalReport::add(const ClipScore& clip) {
  ++clips_;
  for (const auto& s : clip.objects) {
    ++objects_;
    colour_ += s.colour, shape_ += s.shape, direction_ += s.direction, all_ += s.all_correct();
    present_ += s.present_fraction;
    stable_ += s.stable_fraction;
  }
}

std::string EvalReport::markdown() const {
  std::string out =
      fmt::format("| measure ({} clips, {} objects) | value |\n| --- | ---: |\n", clips_, objects_);
  const std::pair<const char*, double> rows[] = {
      {"colour accuracy", colour_accuracy()},
      {"shape accuracy", shape_accuracy()},
      {"direction accuracy", direction_accuracy()},
      {"all three correct", all_correct()},
      {"frames with the object present", present_fraction()},
      {"frames with the object present and stable", stable_fraction()},
  };
  for (const auto& [name, value] : rows)
    out += fmt::format("| {} | {:.1f}% |\n", name, 100 * value);
  return out;
}

io::Json EvalReport::to_json() const {
  io::Json j;
  j["clips"] = clips_;
  j["objects"] = objects_;
  j["colour_accuracy"] = colour_accuracy();
  j["shape_accuracy"] = shape_accuracy();
  j["direction_accuracy"] = direction_accuracy();
  j["all_correct"] = all_correct();
  j["present_fraction"] = present_fraction();
  j["stable_fraction"] = stable_fraction();
  return j;
}

}  // namespace vdm::eval
