// The vocabulary and caption grammar of the `moving-shapes` synthetic set: a colour palette,
// shape names, direction names, and captions such as
//   "a red circle moving left"
//   "a red circle moving left and an orange square moving up-right"
// The renderer (moving_shapes.h), the detector (eval/detector.h) and the text encoder all read
// the lists from here, so a word added here reaches every one of them.
//
// Directions are single words: "up-left" is one token, not three, so a whitespace tokenizer
// sees exactly the words caption_words() lists.
#pragma once
#include <array>
#include <string>
#include <vector>

namespace vdm::data {

// An object colour: a name in captions and the RGB value it is drawn with, in [0, 1].
// Every palette colour has a channel >= 0.9 and the palette colours are >= 0.4 apart
// (Euclidean RGB), so they stay apart from each other and from the dark backgrounds
// (every background channel <= 0.3, textures included).
struct PaletteColour {
  std::string name;
  std::array<float, 3> rgb;
};

const std::vector<PaletteColour>& palette();
const std::vector<std::string>& colour_names();     // palette() order
const std::vector<std::string>& shape_names();      // "circle", "square", "triangle"
const std::vector<std::string>& direction_names();  // left, right, up, down, up-left, ...

// Unit step of a direction in image coordinates: x grows to the right, y grows DOWN (row
// index), so "up" is (0, -1). Diagonals are (+-1, +-1) before normalisation.
std::array<int, 2> direction_step(int direction_index);
// The name of the direction with the negated step ("up-left" -> "down-right"): what a clip
// moving `name` shows when played backwards. Throws vdm::Error for an unknown name.
std::string opposite_direction(const std::string& name);

// Index of `name` in colour_names() / shape_names() / direction_names(); -1 if absent.
int colour_index(const std::string& name);
int shape_index(const std::string& name);
int direction_index(const std::string& name);

// What a caption says about one object.
struct ObjectCaption {
  std::string colour, shape, direction;
  bool operator==(const ObjectCaption& o) const {
    return colour == o.colour && shape == o.shape && direction == o.direction;
  }
};

// "a <colour> <shape> moving <direction>" ("an" before a vowel: "an orange ..."), joined
// with " and " for several objects.
std::string format_caption(const std::vector<ObjectCaption>& objects);

// The inverse of format_caption ("a" and "an" are both accepted before any colour).
// Throws vdm::Error naming the caption, the word that broke the grammar and the words
// accepted there.
std::vector<ObjectCaption> parse_caption(const std::string& caption);

// Every word a caption can contain, sorted, each once ("a", "an", "and", "moving", colours,
// shapes, directions): the vocabulary of the shipped word-level text encoder.
std::vector<std::string> caption_words();

}  // namespace vdm::data
