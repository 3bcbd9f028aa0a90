#include "vdm/models/text_encoder.h"

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes_vocab.h"
#include "vdm/nn/attention.h"

namespace vdm::models {

TextEncoderConfig::TextEncoderConfig() : vocabulary(data::caption_words()) {}

double TextEncoderConfig::parameter_bound() const {
  const double w = static_cast<double>(width), l = static_cast<double>(max_length);
  const double vocab = static_cast<double>(vocabulary.size()) + 8;  // specials
  // Embeddings, positions and the null caption, then per layer attention (4 w^2) and MLP (8 w^2).
  return vocab * w + 2 * l * w + static_cast<double>(layers) * 16 * w * w + 4 * w;
}

void TextEncoderConfig::validate() const {
  VDM_CHECK(!vocabulary.empty(), "text encoder config: vocabulary is empty");
  VDM_CHECK(max_length >= 1 && max_length <= 4096, "text encoder config: max_length must be in [1, 4096], got {}",
            max_length);
  VDM_CHECK(width >= 1 && heads >= 1 && width % heads == 0,
            "text encoder config: width ({}) must be a positive multiple of heads ({})", width, heads);
  VDM_CHECK(layers >= 0 && layers <= 64, "text encoder config: layers must be in [0, 64], got {}", layers);
  WordTokenizer check(vocabulary, max_length);  // throws naming a bad word
}

io::Json TextEncoderConfig::to_json() const {
  io::Json j;
  j["vocabulary"] = vocabulary;
  j["max_length"] = max_length;
  j["width"] = width;
  j["layers"] = layers;
  j["heads"] = heads;
  return j;
}

TextEncoderConfig TextEncoderConfig::from_json(const io::Json& j) {
  VDM_CHECK(j.is_object(), "text encoder config: expected a JSON object, got {}", j.dump());
  TextEncoderConfig c;
  for (const auto& [key, value] : j.items()) {
    try {
      if (key == "vocabulary") {
        // "moving-shapes" names the built-in caption vocabulary; a list gives the words.
        if (value.is_string()) {
          VDM_CHECK(value.get<std::string>() == "moving-shapes",
                    "text encoder config: vocabulary \"{}\" is not a known name; give a list of words or "
                    "\"moving-shapes\"", value.get<std::string>());
          c.vocabulary = data::caption_words();
        } else {
          c.vocabulary = value.get<std::vector<std::string>>();
        }
      } else if (key == "max_length") {
        c.max_length = io::detail::json_as<int64_t>(value);
      } else if (key == "width") {
        c.width = io::detail::json_as<int64_t>(value);
      } else if (key == "layers") {
        c.layers = io::detail::json_as<int64_t>(value);
      } else if (key == "heads") {
        c.heads = io::detail::json_as<int64_t>(value);
      } else {
        throw Error(fmt::format("text encoder config: unknown field '{}'; expected vocabulary, max_length, "
                                "width, layers, heads", key));
      }
    } catch (const io::Json::exception& e) {
      throw Error(fmt::format("text encoder config: field '{}' has the wrong type ({}): {}", key, value.dump(),
                              e.what()));
    } catch (const std::out_of_range& e) {
      throw Error(fmt::format("text encoder config: field '{}' is out of range ({}): {}", key, value.dump(),
                              e.what()));
    }
  }
  c.validate();
  return c;
}

TextEncoderConfig TextEncoderConfig::tiny() {
  TextEncoderConfig c;
  c.width = 16;
  c.layers = 1;
  c.heads = 2;
  return c;
}

TextEncoderImpl::TextEncoderImpl(const TextEncoderConfig& config)
    : config_(config), tokenizer_(config.vocabulary, config.max_length) {
  config_.validate();
  const int64_t d = config_.width, l = config_.max_length;
  token_embedding = register_module(
      "token_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(tokenizer_.vocab_size(), d)));
  // Small position embeddings (as GPT-2 and CLIP initialise them) next to N(0, 1) tokens:
  // word identity dominates at the start, order is learned.
  position_embedding = register_parameter("position_embedding", torch::randn({l, d}) * 0.02);
  for (int64_t i = 0; i < config_.layers; ++i) {
    blocks->push_back(nn::TransformerBlock(nn::TransformerBlockOptions(d, config_.heads, d / config_.heads)));
  }
  register_module("blocks", blocks);
  final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  // Unit scale, like a final-normed caption embedding, so guidance starts from comparable inputs.
  null = register_parameter("null", torch::randn({l, d}));
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& ids) {
  VDM_CHECK(ids.dim() == 2 && ids.size(1) == config_.max_length && ids.scalar_type() == torch::kInt64,
            "text encoder: ids must be [B, {}] int64, got [{}] {}", config_.max_length, fmt::join(ids.sizes(), ", "),
            c10::toString(ids.scalar_type()));
  const auto device = token_embedding->weight.device();
  const auto tokens = ids.to(device);
  auto x = token_embedding(tokens) + position_embedding;  // [B, L, D]
  // Pads are masked as keys: a large finite negative (not -inf) keeps an all-pad row finite.
  const auto pad = tokens.eq(WordTokenizer::kPadId);                                  // [B, L]
  const auto bias = torch::zeros(tokens.sizes(), x.options())
                        .masked_fill(pad, -1e9)
                        .view({tokens.size(0), 1, 1, tokens.size(1)});  // [B, 1, 1, L] over [B, Nh, L, L]
  for (auto& block : *blocks) x = block->as<nn::TransformerBlock>()->forward(x, {}, bias);
  return final_norm(x);  // [B, L, D]
}

torch::Tensor TextEncoderImpl::encode(const std::vector<std::string>& prompts, bool allow_unknown_words) {
  return forward(tokenizer_.encode_batch(prompts, allow_unknown_words));
}

torch::Tensor TextEncoderImpl::null_embedding(int64_t batch) {
  return null.unsqueeze(0).expand({batch, config_.max_length, config_.width});  // [B, L, D]
}

torch::Tensor TextEncoderImpl::forward_with_dropout(const torch::Tensor& ids, const torch::Tensor& drop) {
  VDM_CHECK(drop.dim() == 1 && drop.size(0) == ids.size(0) && drop.scalar_type() == torch::kBool,
            "text encoder: drop must be [B = {}] bool", ids.size(0));
  const auto emb = forward(ids);  // [B, L, D]
  const auto mask = drop.to(emb.device()).view({-1, 1, 1});
  return torch::where(mask, null_embedding(ids.size(0)).to(emb.scalar_type()), emb);  // [B, L, D]
}

}  // namespace vdm::models
