// Scoring detections (eval/detector.h) against what a caption asked for, and the table of
// accuracies `vdm eval` reports.
//
//   vdm::eval::EvalReport report;
//   for (...) report.add(vdm::eval::score(vdm::eval::detect(clip), caption));
//   report.colour_accuracy();   // fraction of captioned objects whose colour was found
//   report.markdown();          // the table for docs/
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vdm/data/moving_shapes_vocab.h"
#include "vdm/eval/detector.h"
#include "vdm/io/json.h"

namespace vdm::eval {

// How one captioned object fared.
struct ObjectScore {
  data::ObjectCaption expected;
  bool found = false;  // a detected object was matched to it
  bool colour = false, shape = false, direction = false;
  // What the matched object did instead (empty when not found; "none" when it stayed put):
  // a wrong direction on the right axis (the opposite one) is what a model that cannot tell
  // which way time runs draws.
  std::string detected_direction;
  std::array<double, 2> velocity{};  // pixels per frame (x right, y down), first half
  double present_fraction = 0;  // of frames (0 when not found)
  double stable_fraction = 0;
  bool all_correct() const { return colour && shape && direction; }
};

// Matching: each captioned object takes the detected object of its colour; objects left
// over are paired in order (most pixels first), so a single-object clip with the wrong
// colour still has its shape and direction scored. Detected objects beyond the caption's
// are counted in `extra_objects`, not as errors.
struct ClipScore {
  std::vector<ObjectScore> objects;  // caption order
  int64_t extra_objects = 0;
};

ClipScore score(const Detection& detection, const std::vector<data::ObjectCaption>& expected);
// Parses the caption (data::parse_caption; throws vdm::Error if it is not in the grammar).
ClipScore score(const Detection& detection, const std::string& caption);

// Accuracies over every captioned object added so far (each counts once).
class EvalReport {
 public:
  void add(const ClipScore& clip);

  int64_t clips() const { return clips_; }
  int64_t objects() const { return objects_; }
  double colour_accuracy() const { return rate(colour_); }
  double shape_accuracy() const { return rate(shape_); }
  double direction_accuracy() const { return rate(direction_); }
  double all_correct() const { return rate(all_); }  // colour, shape and direction together
  // Direction diagnostics: moved along the asked axis (the direction or its opposite), moved
  // the opposite way, or did not move. Chance for the axis is 2 in 8.
  double axis_accuracy() const { return rate(axis_); }
  double opposite_rate() const { return rate(opposite_); }
  double still_rate() const { return rate(still_); }
  // Counts of (asked, drawn) directions, drawn "none" for a still object and "missing" when
  // no object was matched.
  const std::map<std::pair<std::string, std::string>, int64_t>& direction_confusion() const { return confusion_; }
  double present_fraction() const {
    return objects_ ? present_ / static_cast<double>(objects_) : 0;
  }
  double stable_fraction() const { return objects_ ? stable_ / static_cast<double>(objects_) : 0; }

  // A Markdown table: one row per measure, value in percent.
  std::string markdown() const;
  // A Markdown table of direction_confusion(): one row per asked direction, one column per
  // drawn one.
  std::string direction_confusion_markdown() const;
  io::Json to_json() const;

 private:
  double rate(int64_t n) const {
    return objects_ ? static_cast<double>(n) / static_cast<double>(objects_) : 0;
  }
  int64_t clips_ = 0, objects_ = 0, colour_ = 0, shape_ = 0, direction_ = 0, all_ = 0;
  int64_t axis_ = 0, opposite_ = 0, still_ = 0;
  std::map<std::pair<std::string, std::string>, int64_t> confusion_;
  double present_ = 0, stable_ = 0;
};

}  // namespace vdm::eval
