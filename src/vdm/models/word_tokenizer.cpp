#include "vdm/models/word_tokenizer.h"

#include <cctype>

#include "vdm/core/error.h"

namespace vdm::models {

namespace {

bool is_end_punctuation(char c) {
  switch (c) {
    case '.': case ',': case ';': case ':': case '!': case '?': case '"': case '\'': case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

std::string normalise_word(const std::string& raw) {
  size_t begin = 0, end = raw.size();
  while (begin < end && is_end_punctuation(raw[begin])) ++begin;
  while (end > begin && is_end_punctuation(raw[end - 1])) --end;
  std::string word = raw.substr(begin, end - begin);
  for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return word;
}

}  // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> words, int64_t max_length)
    : words_(std::move(words)), max_length_(max_length) {
  VDM_CHECK(max_length_ >= 1 && max_length_ <= 4096,
            "word tokenizer: max_length must be in [1, 4096], got {}", max_length_);
  VDM_CHECK(!words_.empty(), "word tokenizer: the vocabulary is empty");
  for (size_t i = 0; i < words_.size(); ++i) {
    const auto& w = words_[i];
    VDM_CHECK(!w.empty() && normalise_word(w) == w && split(w).size() == 1,
              "word tokenizer: vocabulary entry {} ('{}') is not a normalised word (lowercase, "
              "no whitespace, no leading or trailing punctuation)", i, w);
    VDM_CHECK(ids_.emplace(w, kFirstWordId + static_cast<int64_t>(i)).second,
              "word tokenizer: the vocabulary lists '{}' twice", w);
  }
}

std::vector<std::string> WordTokenizer::split(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    auto word = normalise_word(current);
    if (!word.empty()) out.push_back(std::move(word));
    current.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else {
      current.push_back(c);
    }
  }
  flush();
  return out;
}

int64_t WordTokenizer::id(const std::string& word) const {
  const auto it = ids_.find(word);
  return it == ids_.end() ? kUnknownId : it->second;
}

std::vector<std::string> WordTokenizer::unknown_words(const std::string& text) const {
  std::vector<std::string> unknown;
  for (const auto& w : split(text)) {
    if (id(w) == kUnknownId && std::find(unknown.begin(), unknown.end(), w) == unknown.end()) {
      unknown.push_back(w);
    }
  }
  return unknown;
}

torch::Tensor WordTokenizer::encode(const std::string& text, bool allow_unknown) const {
  const auto words = split(text);
  VDM_CHECK(static_cast<int64_t>(words.size()) <= max_length_,
            "prompt \"{}\" has {} words; the text encoder reads at most {}", text, words.size(),
            max_length_);
  if (!allow_unknown) {
    const auto unknown = unknown_words(text);
    VDM_CHECK(unknown.empty(),
              "prompt \"{}\": the model never saw the word{} {}. It knows: {}. (Allow unknown "
              "words, e.g. vdm generate --allow-unknown-words, to go on with them read as <unk>.)",
              text, unknown.size() == 1 ? "" : "s",
              fmt::format("'{}'", fmt::join(unknown, "', '")), fmt::join(words_, ", "));
  }
  auto ids = torch::full({max_length_}, kPadId, torch::kInt64);  // [L]
  auto* p = ids.data_ptr<int64_t>();
  for (size_t i = 0; i < words.size(); ++i) p[i] = id(words[i]);
  return ids;
}

torch::Tensor WordTokenizer::encode_batch(const std::vector<std::string>& texts,
                                          bool allow_unknown) const {
  VDM_CHECK(!texts.empty(), "word tokenizer: no texts to encode");
  std::vector<torch::Tensor> rows;
  rows.reserve(texts.size());
  for (const auto& t : texts) rows.push_back(encode(t, allow_unknown));
  return torch::stack(rows);  // [B, L]
}

}  // namespace vdm::models
