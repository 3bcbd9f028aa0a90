#include "vdm/eval/report.h"

#include <fmt/format.h>

#include "vdm/data/moving_shapes_vocab.h"

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
      s.detected_direction = obj.direction;
      s.velocity = obj.velocity;
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
    const auto& drawn = s.found ? s.detected_direction : std::string("missing");
    const bool opposite = data::direction_index(s.expected.direction) >= 0 &&
                          drawn == data::opposite_direction(s.expected.direction);
    axis_ += s.direction || opposite;
    opposite_ += opposite;
    still_ += drawn == "none";
    ++confusion_[{s.expected.direction, drawn}];
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
      {"direction on the asked axis (either way)", axis_accuracy()},
      {"direction opposite to the asked one", opposite_rate()},
      {"frames with the object present", present_fraction()},
      {"frames with the object present and stable", stable_fraction()},
  };
  for (const auto& [name, value] : rows)
    out += fmt::format("| {} | {:.1f}% |\n", name, 100 * value);
  return out;
}

std::string EvalReport::direction_confusion_markdown() const {
  std::vector<std::string> columns = data::direction_names();
  columns.push_back("none");
  columns.push_back("missing");
  std::string out = "| asked \\ drawn |";
  for (const auto& c : columns) out += fmt::format(" {} |", c);
  out += "\n| --- |";
  for (size_t i = 0; i < columns.size(); ++i) out += " ---: |";
  out += "\n";
  for (const auto& asked : data::direction_names()) {
    std::string row = fmt::format("| {} |", asked);
    int64_t total = 0;
    for (const auto& drawn : columns) {
      const auto it = confusion_.find({asked, drawn});
      const int64_t n = it == confusion_.end() ? 0 : it->second;
      total += n;
      row += n ? fmt::format(" {} |", n) : std::string(" |");
    }
    if (total) out += row + "\n";
  }
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
  j["axis_accuracy"] = axis_accuracy();
  j["opposite_rate"] = opposite_rate();
  j["still_rate"] = still_rate();
  io::Json confusion = io::Json::object();
  for (const auto& [key, n] : confusion_) confusion[key.first][key.second] = n;
  j["direction_confusion"] = confusion;
  j["present_fraction"] = present_fraction();
  j["stable_fraction"] = stable_fraction();
  return j;
}

}  // namespace vdm::eval
