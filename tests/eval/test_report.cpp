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

}  // namespace
}  // namespace vdm::eval
