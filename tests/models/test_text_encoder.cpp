// The word-level tokenizer and the text encoder of the shipped text-to-video model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes_vocab.h"
#include "vdm/models/text_encoder.h"
#include "vdm/models/word_tokenizer.h"

namespace vdm::models {
namespace {

TEST(TextEncoderTokenizer, NormalisesSplitsAndPads) {
  WordTokenizer tok(data::caption_words(), 16);
  EXPECT_EQ(WordTokenizer::split("  A Red\tcircle moving UP-LEFT.  "),
            (std::vector<std::string>{"a", "red", "circle", "moving", "up-left"}));
  const auto ids = tok.encode("A red circle moving up-left.");
  ASSERT_EQ(ids.sizes(), torch::IntArrayRef({16}));
  EXPECT_EQ(ids[0].item<int64_t>(), tok.id("a"));
  EXPECT_EQ(ids[4].item<int64_t>(), tok.id("up-left"));
  EXPECT_GE(tok.id("up-left"), WordTokenizer::kFirstWordId);
  for (int64_t i = 5; i < 16; ++i) EXPECT_EQ(ids[i].item<int64_t>(), WordTokenizer::kPadId);
  EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(data::caption_words().size()) + 2);
  // Every caption of the set encodes without unknown words.
  EXPECT_NO_THROW(tok.encode("a red circle moving left and an orange square moving up-right"));
}

TEST(TextEncoderTokenizer, UnknownWordsAreAnErrorNamingThemAndListingKnownWords) {
  WordTokenizer tok(data::caption_words(), 16);
  try {
    tok.encode("a pink dog moving left");
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'pink', 'dog'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("circle"), std::string::npos) << msg;  // the known words are listed
    EXPECT_NE(msg.find("up-left"), std::string::npos) << msg;
    EXPECT_NE(msg.find("allow-unknown-words"), std::string::npos) << msg;
  }
  EXPECT_EQ(tok.unknown_words("a pink dog, a pink cat"), (std::vector<std::string>{"pink", "dog", "cat"}));
  const auto ids = tok.encode("a pink circle", /*allow_unknown=*/true);
  EXPECT_EQ(ids[1].item<int64_t>(), WordTokenizer::kUnknownId);
  EXPECT_EQ(ids[2].item<int64_t>(), tok.id("circle"));
}

TEST(TextEncoderTokenizer, TooManyWordsAndBadVocabulariesAreErrors) {
  WordTokenizer tok({"a", "b"}, 3);
  EXPECT_THROW(tok.encode("a b a b"), Error);
  EXPECT_THROW(WordTokenizer({"a", "a"}, 4), Error);        // duplicate
  EXPECT_THROW(WordTokenizer({"Red"}, 4), Error);           // not normalised
  EXPECT_THROW(WordTokenizer({"two words"}, 4), Error);     // whitespace
  EXPECT_THROW(WordTokenizer({"a"}, 0), Error);             // max_length
}

TEST(TextEncoder, EncodesToBatchLengthWidthAndDropsCaptionsToTheNullEmbedding) {
  torch::manual_seed(0);
  TextEncoder enc(TextEncoderConfig::tiny());
  const auto emb = enc->encode({"a red circle moving left", "a blue square moving up"});
  ASSERT_EQ(emb.sizes(), torch::IntArrayRef({2, 16, 16}));
  EXPECT_TRUE(torch::isfinite(emb).all().item<bool>());
  EXPECT_GT((emb[0] - emb[1]).abs().max().item<double>(), 1e-3);  // different captions differ

  const auto ids = enc->tokenizer().encode_batch({"a red circle moving left", "a blue square moving up"});
  const auto drop = torch::tensor({false, true});
  const auto mixed = enc->forward_with_dropout(ids, drop);
  EXPECT_TRUE(torch::equal(mixed[0], emb[0]));
  EXPECT_TRUE(torch::equal(mixed[1], enc->null_embedding(1)[0]));

  // Gradients reach the null embedding through dropped items only.
  mixed.sum().backward();
  EXPECT_TRUE(enc->null.grad().defined());
  EXPECT_GT(enc->null.grad().abs().sum().item<double>(), 0);
}

TEST(TextEncoder, PaddingDoesNotLeakIntoWordPositions) {
  // A caption's word embeddings are the same whatever max_length pads it to (pads are masked
  // as keys), given the same weights for the shared positions.
  torch::manual_seed(1);
  auto small_cfg = TextEncoderConfig::tiny();
  small_cfg.max_length = 8;
  auto large_cfg = small_cfg;
  large_cfg.max_length = 12;
  TextEncoder small(small_cfg), large(large_cfg);
  {
    torch::NoGradGuard no_grad;
    auto small_params = small->named_parameters();
    for (auto& p : large->named_parameters()) {
      const auto& src = small_params[p.key()];
      if (p.key() == "position_embedding" || p.key() == "null") {
        p.value().zero_();
        p.value().slice(0, 0, 8).copy_(src);
      } else {
        p.value().copy_(src);
      }
    }
  }
  const auto a = small->encode({"a red circle moving left"});  // [1, 8, D]
  const auto b = large->encode({"a red circle moving left"});  // [1, 12, D]
  EXPECT_LT((a.slice(1, 0, 5) - b.slice(1, 0, 5)).abs().max().item<double>(), 1e-5);
}

TEST(TextEncoder, ConfigRoundTripsThroughJsonAndRejectsUnknownFields) {
  auto cfg = TextEncoderConfig::tiny();
  const auto back = TextEncoderConfig::from_json(cfg.to_json());
  EXPECT_EQ(back.vocabulary, cfg.vocabulary);
  EXPECT_EQ(back.width, 16);
  EXPECT_EQ(back.layers, 1);
  auto j = cfg.to_json();
  j["widht"] = 3;
  EXPECT_THROW(TextEncoderConfig::from_json(j), Error);
  io::Json named = {{"vocabulary", "moving-shapes"}};
  EXPECT_EQ(TextEncoderConfig::from_json(named).vocabulary, data::caption_words());
  io::Json bad = {{"width", 10}, {"heads", 4}};
  EXPECT_THROW(TextEncoderConfig::from_json(bad), Error);
}

}  // namespace
}  // namespace vdm::models
