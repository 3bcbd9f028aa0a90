// The caption grammar and vocabulary of moving-shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/data/moving_shapes_vocab.h"

namespace vdm::data {
namespace {

TEST(MovingShapesVocab, CaptionsRoundTripAndWordsAreListed) {
  const std::vector<ObjectCaption> two = {{"red", "circle", "left"},
                                          {"orange", "square", "up-right"}};
  const auto caption = format_caption(two);
  EXPECT_EQ(caption, "a red circle moving left and an orange square moving up-right");
  EXPECT_EQ(parse_caption(caption), two);
  EXPECT_EQ(parse_caption("a orange square moving up-right")[0], two[1]);  // either article
  for (const char* bad :
       {"", "a red circle", "a red circle moving sideways", "a pink circle moving left",
        "a red circle moving left and", "a red circle moving left or a blue square moving up"})
    EXPECT_THROW(parse_caption(bad), Error) << bad;
  try {
    parse_caption("a pink circle moving left");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"pink\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"purple\""), std::string::npos) << e.what();
  }

  const auto words = caption_words();
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
  EXPECT_EQ(std::set<std::string>(words.begin(), words.end()).size(), words.size());
  MovingShapes set;
  std::vector<int64_t> indices(200);
  for (int64_t i = 0; i < 200; ++i) indices[static_cast<size_t>(i)] = i;
  for (const auto& c : set.train_batch(3, indices).captions) {
    std::istringstream in(c);
    for (std::string w; in >> w;)
      EXPECT_TRUE(std::binary_search(words.begin(), words.end(), w)) << w;
  }
  EXPECT_GE(colour_names().size(), 7u);
  for (const char* c : {"red", "green", "blue", "yellow", "white", "orange", "purple"})
    EXPECT_GE(colour_index(c), 0) << c;
  EXPECT_EQ(direction_step(direction_index("up-left")), (std::array<int, 2>{-1, -1}));
}

}  // namespace
}  // namespace vdm::data
