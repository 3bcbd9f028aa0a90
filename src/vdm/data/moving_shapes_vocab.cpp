#include "vdm/data/moving_shapes_vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <string_view>

#include "vdm/core/error.h"

namespace vdm::data {
namespace {

int find(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "\"" : ", \"") + n + "\"";
  return out;
}

// "an orange", "a red": captions read as English, which is how users type prompts.
const char* article(const std::string& next_word) {
  return std::string_view("aeiou").find(next_word.at(0)) != std::string_view::npos ? "an" : "a";
}

}  // namespace

const std::vector<PaletteColour>& palette() {
  // Saturated, bright colours: each has a channel >= 0.9, so it is far from every background
  // (channels <= 0.3); the closest pair (orange/yellow) is 0.41 apart, orange/red 0.46.
  static const std::vector<PaletteColour> colours = {
      {"red", {0.95f, 0.10f, 0.10f}},    {"green", {0.10f, 0.85f, 0.10f}},
      {"blue", {0.15f, 0.30f, 1.00f}},   {"yellow", {1.00f, 0.95f, 0.10f}},
      {"white", {1.00f, 1.00f, 1.00f}},  {"orange", {1.00f, 0.55f, 0.00f}},
      {"purple", {0.65f, 0.15f, 0.90f}},
  };
  return colours;
}

const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : palette()) out.push_back(c.name);
    return out;
  }();
  return names;
}

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> names = {"circle", "square", "triangle"};
  return names;
}

const std::vector<std::string>& direction_names() {
  // Same order as kSteps below.
  static const std::vector<std::string> names = {"left",    "right",    "up",        "down",
                                                 "up-left", "up-right", "down-left", "down-right"};
  return names;
}

std::array<int, 2> direction_step(int direction_index) {
  static constexpr std::array<std::array<int, 2>, 8> kSteps = {{
      {-1, 0},
      {1, 0},
      {0, -1},
      {0, 1},
      {-1, -1},
      {1, -1},
      {-1, 1},
      {1, 1},
  }};
  VDM_CHECK(direction_index >= 0 && direction_index < static_cast<int>(kSteps.size()),
            "direction index {} out of range [0, {})", direction_index, kSteps.size());
  return kSteps[static_cast<size_t>(direction_index)];
}

int colour_index(const std::string& name) { return find(colour_names(), name); }
int shape_index(const std::string& name) { return find(shape_names(), name); }
int direction_index(const std::string& name) { return find(direction_names(), name); }

std::string opposite_direction(const std::string& name) {
  const int index = direction_index(name);
  VDM_CHECK(index >= 0, "unknown direction \"{}\"; known: {}", name, fmt::join(direction_names(), ", "));
  const auto step = direction_step(index);
  for (int k = 0; k < static_cast<int>(direction_names().size()); ++k) {
    const auto other = direction_step(k);
    if (other[0] == -step[0] && other[1] == -step[1]) return direction_names()[static_cast<size_t>(k)];
  }
  throw Error(fmt::format("direction \"{}\" has no opposite", name));  // not reached: the set is symmetric
}

std::string format_caption(const std::vector<ObjectCaption>& objects) {
  VDM_CHECK(!objects.empty(), "a caption needs at least one object");
  std::string out;
  for (const auto& o : objects) {
    VDM_CHECK(colour_index(o.colour) >= 0, "unknown colour \"{}\"; known: {}", o.colour,
              quoted_list(colour_names()));
    VDM_CHECK(shape_index(o.shape) >= 0, "unknown shape \"{}\"; known: {}", o.shape,
              quoted_list(shape_names()));
    VDM_CHECK(direction_index(o.direction) >= 0, "unknown direction \"{}\"; known: {}", o.direction,
              quoted_list(direction_names()));
    if (!out.empty()) out += " and ";
    out += fmt::format("{} {} {} moving {}", article(o.colour), o.colour, o.shape, o.direction);
  }
  return out;
}

std::vector<ObjectCaption> parse_caption(const std::string& caption) {
  std::vector<std::string> words;
  std::istringstream in(caption);
  for (std::string w; in >> w;) words.push_back(w);

  // Grammar: object ("and" object)*, object = ("a" | "an") COLOUR SHAPE "moving" DIRECTION.
  // Either article is accepted before any colour: a user's "a orange" means the same.
  size_t pos = 0;
  auto expect = [&](const std::vector<std::string>& accepted, const char* what) {
    VDM_CHECK(pos < words.size(), "caption \"{}\": ends where {} was expected ({})", caption, what,
              quoted_list(accepted));
    VDM_CHECK(find(accepted, words[pos]) >= 0,
              "caption \"{}\": word {} \"{}\" is not a {}; expected one of {}", caption, pos + 1,
              words[pos], what, quoted_list(accepted));
    return words[pos++];
  };
  std::vector<ObjectCaption> objects;
  while (true) {
    ObjectCaption o;
    expect({"a", "an"}, "article");
    o.colour = expect(colour_names(), "colour");
    o.shape = expect(shape_names(), "shape");
    expect({"moving"}, "verb");
    o.direction = expect(direction_names(), "direction");
    objects.push_back(o);
    if (pos == words.size()) break;
    expect({"and"}, "conjunction");
  }
  return objects;
}

std::vector<std::string> caption_words() {
  std::vector<std::string> words = {"a", "an", "and", "moving"};
  for (const auto* list : {&colour_names(), &shape_names(), &direction_names()})
    words.insert(words.end(), list->begin(), list->end());
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

}  // namespace vdm::data
