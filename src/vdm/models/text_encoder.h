// The text encoder of the shipped text-to-video model: word tokens -> a small pre-norm
// transformer (Vaswani et al. 2017, arXiv:1706.03762; the block is diffusers'
// BasicTransformerBlock, nn/attention.h) -> [B, L, D] embeddings that the U-Net's
// cross-attention reads. It is trained from scratch with the U-Net, as the captions of a
// synthetic set need no pretrained language model (Imagen's frozen T5 is the large-scale
// alternative, seed 2.2).
//
// Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Sec. 3.2): the
// unconditional input is a learned "null" embedding [L, D], which replaces a caption's
// embedding for a fraction of training items (caption dropout) and is the negative
// conditioning at sampling time. It is a parameter, not the encoding of an empty string, so
// the model can place it wherever it serves the unconditional prediction best.
//
//   vdm::models::TextEncoderConfig config;                    // moving-shapes vocabulary
//   vdm::models::TextEncoder encoder(config);
//   auto emb = encoder->encode({"a red circle moving left"});  // [1, 16, 64]
//   auto null = encoder->null_embedding(1);                    // [1, 16, 64]
//
// Padding: pad positions are masked out as keys of the self-attention, so a caption's
// embedding does not depend on how much padding follows it; pad positions still get an
// output (position embedding + pad token through the blocks), which the U-Net's
// cross-attention may read like any other token.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "vdm/io/json.h"
#include "vdm/models/word_tokenizer.h"

namespace vdm::models {

struct TextEncoderConfig {
  // The vocabulary, saved with the model; the default is every word of the moving-shapes
  // captions (data::caption_words()).
  std::vector<std::string> vocabulary;
  int64_t max_length = 16;  // the longest moving-shapes caption has 11 words
  int64_t width = 64;       // D: matches the U-Net's cross_attention_dim
  int64_t layers = 2;       // enough to bind "red" to "circle" in two-object captions
  int64_t heads = 4;        // Dh = 16

  TextEncoderConfig();  // fills `vocabulary` with data::caption_words()
  void validate() const;  // throws vdm::Error naming the field
  double parameter_bound() const;  // as UNet3DConfig::parameter_bound
  io::Json to_json() const;
  static TextEncoderConfig from_json(const io::Json& json);  // unknown fields are errors
  // The tiny preset for tests (width 16, 1 layer, 2 heads).
  static TextEncoderConfig tiny();
};

class TextEncoderImpl : public torch::nn::Module {
 public:
  explicit TextEncoderImpl(const TextEncoderConfig& config);

  // ids: [B, L] int64 (L = max_length) -> [B, L, D].
  torch::Tensor forward(const torch::Tensor& ids);
  // Tokenizes and encodes (see WordTokenizer::encode for the errors) -> [B, L, D].
  torch::Tensor encode(const std::vector<std::string>& prompts, bool allow_unknown_words = false);
  // The learned unconditional embedding, repeated: [batch, L, D].
  torch::Tensor null_embedding(int64_t batch);
  // forward(ids), with the items where drop[b] is true replaced by the null embedding
  // (caption dropout; drop: [B] bool).
  torch::Tensor forward_with_dropout(const torch::Tensor& ids, const torch::Tensor& drop);

  const TextEncoderConfig& config() const { return config_; }
  const WordTokenizer& tokenizer() const { return tokenizer_; }

  torch::nn::Embedding token_embedding{nullptr};  // [V, D]
  torch::Tensor position_embedding;               // [L, D]
  torch::nn::ModuleList blocks;                   // nn::TransformerBlock, self-attention only
  torch::nn::LayerNorm final_norm{nullptr};
  torch::Tensor null;                             // [L, D]

 private:
  TextEncoderConfig config_;
  WordTokenizer tokenizer_;
};
TORCH_MODULE(TextEncoder);

}  // namespace vdm::models
