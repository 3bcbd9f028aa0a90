// libFuzzer target: the word tokenizer's files and input. The bytes up to the first newline
// are a text encoder config (its vocabulary and max_length, as a checkpoint stores them); the
// rest is a prompt, encoded strictly (unknown words are an error naming them) and leniently.
#include <torch/torch.h>

#include "fuzz_util.h"
#include "vdm/io/json.h"
#include "vdm/models/text_encoder.h"
#include "vdm/models/word_tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto cut = all.find('\n');
  const auto config_text = all.substr(0, cut);
  const std::string prompt(cut == std::string_view::npos ? std::string_view() : all.substr(cut + 1));
  vdm::fuzz::expect_ok_or_error([&] {
    const auto json = vdm::io::parse_json(config_text, "fuzz tokenizer config");
    const auto config = vdm::models::TextEncoderConfig::from_json(json);
    const vdm::models::WordTokenizer tokenizer(config.vocabulary, config.max_length);
    vdm::fuzz::expect_ok_or_error([&] { tokenizer.encode(prompt, /*allow_unknown=*/false); });
    const auto ids = tokenizer.encode(prompt, /*allow_unknown=*/true);
    if (ids.numel() != config.max_length) std::abort();
  });
  return 0;
}
