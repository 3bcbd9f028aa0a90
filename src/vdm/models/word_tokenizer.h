// A word-level tokenizer over a closed vocabulary: the text side of the shipped text-to-video
// model, whose captions come from a small grammar (data/moving_shapes_vocab.h). A BPE or
// SentencePiece tokenizer would split "up-left" into pieces the model has to re-assemble;
// whole words give one token per concept, and an unknown word can be named to the user.
//
//   vdm::models::WordTokenizer tok(vdm::data::caption_words(), /*max_length=*/16);
//   auto ids = tok.encode("A red circle moving left.");   // [16] int64: ids, then <pad>
//   tok.unknown_words("a dog moving left");               // {"dog"}
//
// Normalisation: ASCII letters are lowercased, text is split on whitespace, and punctuation
// at either end of a word (.,;:!?"'()) is dropped, so "Left." reads as "left". Hyphens inside
// a word are kept ("up-left" is one word).
//
// Ids: 0 is <pad> (fills the sequence to max_length), 1 is <unk> (a word outside the
// vocabulary, only when the caller allows unknown words), then the vocabulary in the order
// given. The vocabulary is saved with the model, so ids never depend on a list elsewhere.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vdm::models {

class WordTokenizer {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kUnknownId = 1;
  static constexpr int64_t kFirstWordId = 2;

  // words: unique, non-empty, already normalised (lowercase, no whitespace or end
  // punctuation). Throws vdm::Error naming the offending word otherwise; max_length >= 1.
  WordTokenizer(std::vector<std::string> words, int64_t max_length);

  // The normalised words of `text`, in order.
  static std::vector<std::string> split(const std::string& text);

  // Words of `text` outside the vocabulary, each once, in order of appearance.
  std::vector<std::string> unknown_words(const std::string& text) const;

  // [max_length] int64 ids. Throws vdm::Error when `text` has more than max_length words, and
  // (unless allow_unknown) when it has unknown words: the message names them and lists the
  // vocabulary. With allow_unknown they become <unk>.
  torch::Tensor encode(const std::string& text, bool allow_unknown = false) const;
  // [B, max_length] int64.
  torch::Tensor encode_batch(const std::vector<std::string>& texts, bool allow_unknown = false) const;

  const std::vector<std::string>& words() const { return words_; }
  int64_t vocab_size() const { return kFirstWordId + static_cast<int64_t>(words_.size()); }
  int64_t max_length() const { return max_length_; }
  // Id of a normalised word, or kUnknownId.
  int64_t id(const std::string& word) const;

 private:
  std::vector<std::string> words_;
  std::map<std::string, int64_t> ids_;
  int64_t max_length_;
};

}  // namespace vdm::models
