// Scoring a detection against its caption, and the accuracy table.
#include <gtest/gtest.h>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/eval/detector.h"
#include "vdm/eval/report.h"

namespace vdm::eval {
namespace {

TEST(EvalReport, ScoresDetectionsAgainstCaptions) {
  data::MovingShapesOptions o;
  o.max_objects = 1;
  const auto s = data::MovingShapes(o).held_out_sample(2);
  const auto det = detect(s.frames);
  const auto truth = s.objects[0].caption();

  auto wrong = truth;
  wrong.colour = truth.colour == "red" ? "blue" : "red";
  wrong.direction = truth.direction == "left" ? "right" : "left";
  EvalReport report;
  report.add(score(det, s.caption));
  report.add(score(det, std::vector<data::ObjectCaption>{wrong}));
  const auto miss = score(det, std::vector<data::ObjectCaption>{wrong});
  EXPECT_TRUE(miss.objects[0].found);
  EXPECT_FALSE(miss.objects[0].colour);
  EXPECT_TRUE(miss.objects[0].shape);  // matched by order, so shape still counts
  EXPECT_FALSE(miss.objects[0].direction);
  EXPECT_EQ(report.clips(), 2);
  EXPECT_DOUBLE_EQ(report.colour_accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(report.shape_accuracy(), 1.0);
  EXPECT_DOUBLE_EQ(report.all_correct(), 0.5);
  EXPECT_NE(report.markdown().find("| colour accuracy | 50.0% |"), std::string::npos)
      << report.markdown();
  EXPECT_DOUBLE_EQ(report.to_json()["direction_accuracy"].get<double>(), 0.5);

  // Nothing detected: found = false, everything wrong.
  const auto none = score(Detection{}, s.caption);
  EXPECT_FALSE(none.objects[0].found);
  EXPECT_FALSE(none.objects[0].colour || none.objects[0].shape || none.objects[0].direction);
  EXPECT_THROW(score(det, "a red blob moving left"), Error);
}

TEST(EvalReport, TwoObjectsMatchByColour) {
  DetectedObject blue, red;
  blue.colour = "blue", blue.shape = "square", blue.direction = "up";
  blue.present = blue.stable = {true, true};
  red.colour = "red", red.shape = "circle", red.direction = "left";
  red.present = {true, true}, red.stable = {true, false};
  Detection det;
  det.objects = {blue, red};
  const auto s = score(det, "a red circle moving left and a blue square moving down");
  ASSERT_EQ(s.objects.size(), 2u);
  EXPECT_TRUE(s.objects[0].all_correct());
  EXPECT_DOUBLE_EQ(s.objects[0].stable_fraction, 0.5);
  EXPECT_TRUE(s.objects[1].colour && s.objects[1].shape);
  EXPECT_FALSE(s.objects[1].direction);
  EXPECT_EQ(s.extra_objects, 0);
  EXPECT_EQ(score(det, "a green circle moving left").extra_objects, 1);
}

// Direction diagnostics: the opposite of every direction is its time reverse (the negated
// step), and the report separates "right axis, wrong way" from other misses.
TEST(EvalReport, SeparatesTheOppositeDirectionFromOtherMisses) {
  for (const auto& name : data::direction_names()) {
    const auto opposite = data::opposite_direction(name);
    const auto a = data::direction_step(data::direction_index(name));
    const auto b = data::direction_step(data::direction_index(opposite));
    EXPECT_EQ(a[0], -b[0]) << name;
    EXPECT_EQ(a[1], -b[1]) << name;
    EXPECT_EQ(data::opposite_direction(opposite), name);
  }
  EXPECT_EQ(data::opposite_direction("up-left"), "down-right");
  EXPECT_THROW(data::opposite_direction("sideways"), Error);

  auto moving = [](const std::string& direction) {
    DetectedObject o;
    o.colour = "red", o.shape = "circle", o.direction = direction;
    o.velocity = {direction == "none" ? 0.0 : 0.5, 0.0};
    o.present = o.stable = {true, true};
    Detection det;
    det.objects = {o};
    return det;
  };
  EvalReport report;
  report.add(score(moving("right"), "a red circle moving right"));   // right
  report.add(score(moving("left"), "a red circle moving right"));    // opposite
  report.add(score(moving("up"), "a red circle moving right"));      // another axis
  report.add(score(moving("none"), "a red circle moving right"));    // still
  report.add(score(Detection{}, "a red circle moving up-left"));     // nothing found
  EXPECT_DOUBLE_EQ(report.direction_accuracy(), 0.2);
  EXPECT_DOUBLE_EQ(report.axis_accuracy(), 0.4);
  EXPECT_DOUBLE_EQ(report.opposite_rate(), 0.2);
  EXPECT_DOUBLE_EQ(report.still_rate(), 0.2);
  const auto& confusion = report.direction_confusion();
  EXPECT_EQ(confusion.at({"right", "left"}), 1);
  EXPECT_EQ(confusion.at({"right", "none"}), 1);
  EXPECT_EQ(confusion.at({"up-left", "missing"}), 1);
  const auto first = score(moving("left"), "a red circle moving right").objects[0];
  EXPECT_EQ(first.detected_direction, "left");
  EXPECT_DOUBLE_EQ(first.velocity[0], 0.5);

  const auto table = report.direction_confusion_markdown();
  EXPECT_NE(table.find("| right | 1 | 1 | 1 |"), std::string::npos) << table;  // left, right, up
  EXPECT_NE(table.find("\n| up-left |"), std::string::npos) << table;
  EXPECT_EQ(table.find("\n| down |"), std::string::npos) << table;  // never asked: no row
  const auto json = report.to_json();
  EXPECT_EQ(json["direction_confusion"]["right"]["left"].get<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(json["opposite_rate"].get<double>(), 0.2);
  EXPECT_NE(report.markdown().find("| direction opposite to the asked one | 20.0% |"), std::string::npos);
}

}  // namespace
}  // namespace vdm::eval
