#include "vdm/models/unet3d.h"

#include <algorithm>
#include <filesystem>

#include "vdm/core/error.h"
#include "vdm/core/torch_compat.h"
#include "vdm/io/checkpoint.h"
#include "vdm/nn/checkpoint.h"
#include "vdm/models/weights.h"

namespace vdm::models {

// ---- config --------------------------------------------------------------------------------

int64_t UNet3DConfig::head_dim(int64_t level) const {
  return attention_head_dim.size() == 1 ? attention_head_dim[0] : attention_head_dim.at(level);
}

void UNet3DConfig::validate() const {
  VDM_CHECK(in_channels > 0 && out_channels > 0, "unet config: in_channels and out_channels must be positive");
  VDM_CHECK(!block_out_channels.empty(), "unet config: block_out_channels must list at least one level");
  VDM_CHECK(attention_levels.size() == block_out_channels.size(),
            "unet config: attention_levels has {} entries for {} levels", attention_levels.size(),
            block_out_channels.size());
  VDM_CHECK(attention_head_dim.size() == 1 || attention_head_dim.size() == block_out_channels.size(),
            "unet config: attention_head_dim needs 1 or {} entries, has {}", block_out_channels.size(),
            attention_head_dim.size());
  VDM_CHECK(layers_per_block >= 1, "unet config: layers_per_block must be >= 1, is {}", layers_per_block);
  VDM_CHECK(norm_num_groups >= 1, "unet config: norm_num_groups must be >= 1");
  VDM_CHECK(cross_attention_dim >= 0, "unet config: cross_attention_dim must be >= 0");
  for (int64_t i = 0; i < levels(); ++i) {
    const int64_t c = block_out_channels[i];
    VDM_CHECK(c > 0 && c % norm_num_groups == 0,
              "unet config: block_out_channels[{}] = {} must be a positive multiple of norm_num_groups = {}", i,
              c, norm_num_groups);
    VDM_CHECK(head_dim(i) > 0 && c % head_dim(i) == 0,
              "unet config: block_out_channels[{}] = {} must be a multiple of attention_head_dim {}", i, c,
              head_dim(i));
  }
  nn::parse_frame_position(frame_position);
  VDM_CHECK(prediction == "eps" || prediction == "x" || prediction == "v",
            "unet config: prediction must be eps, x or v, is '{}'", prediction);
  VDM_CHECK(transformer_in_heads > 0, "unet config: transformer_in_heads must be positive");
  VDM_CHECK(addition_embed_type.empty() || addition_embed_type == "text",
            "unet config: addition_embed_type must be \"\" or \"text\", is '{}'", addition_embed_type);
  if (addition_embed_type == "text") {
    VDM_CHECK(cross_attention_dim > 0, "unet config: addition_embed_type \"text\" needs cross_attention_dim > 0");
    VDM_CHECK(addition_embed_type_num_heads > 0 && cross_attention_dim % addition_embed_type_num_heads == 0,
              "unet config: cross_attention_dim {} must be a multiple of addition_embed_type_num_heads {}",
              cross_attention_dim, addition_embed_type_num_heads);
  }
  VDM_CHECK(!frame_text_embedding || addition_embed_type == "text",
            "unet config: frame_text_embedding needs addition_embed_type \"text\" (it reads the pooled prompt)");
}

double UNet3DConfig::parameter_bound() const {
  double widest = 0, time = 0;
  for (const auto c : block_out_channels) widest = std::max(widest, static_cast<double>(c));
  if (!block_out_channels.empty()) time = 4.0 * static_cast<double>(block_out_channels.front());
  const double m = widest, cross = static_cast<double>(cross_attention_dim);
  // Per block: resnet (convs from up to 2m channels: 27 m^2), spatial and temporal transformers
  // (about 24 m^2 each, plus the cross-attention's 2 cross m), temporal convs (12 m^2), the
  // time projection; 120 m^2 covers them all with room to spare.
  const double per_block = 120 * m * m + 4 * cross * m + 2 * time * m;
  const double blocks = static_cast<double>(levels()) * (2.0 * static_cast<double>(layers_per_block) + 3) + 4;
  const double ends = 9 * m * static_cast<double>(in_channels + out_channels) + 4 * time * time + 4 * cross * cross;
  return blocks * per_block + ends;
}

io::Json UNet3DConfig::to_json() const {
  io::Json j;
  j["_class_name"] = "vdm.UNet3D";
  j["in_channels"] = in_channels;
  j["out_channels"] = out_channels;
  j["block_out_channels"] = block_out_channels;
  j["attention_levels"] = attention_levels;
  j["layers_per_block"] = layers_per_block;
  j["norm_num_groups"] = norm_num_groups;
  j["norm_eps"] = norm_eps;
  j["cross_attention_dim"] = cross_attention_dim;
  j["attention_head_dim"] = attention_head_dim;
  j["linear_projection"] = linear_projection;
  j["temporal_conv"] = temporal_conv;
  j["frame_position"] = frame_position;
  j["transformer_in"] = transformer_in;
  j["transformer_in_heads"] = transformer_in_heads;
  j["downsample_padding"] = downsample_padding;
  j["mid_block_scale_factor"] = mid_block_scale_factor;
  j["dropout"] = dropout;
  j["prediction"] = prediction;
  if (!addition_embed_type.empty()) {  // absent from files of models without it
    j["addition_embed_type"] = addition_embed_type;
    j["addition_embed_type_num_heads"] = addition_embed_type_num_heads;
  }
  if (frame_text_embedding) j["frame_text_embedding"] = true;  // absent from files of models without it
  return j;
}


UNet3DConfig UNet3DConfig::from_json(const io::Json& j) {
  io::check_fields(j, "unet config",
                   {"_class_name", "in_channels", "out_channels", "block_out_channels", "attention_levels",
                    "layers_per_block", "norm_num_groups", "norm_eps", "cross_attention_dim", "attention_head_dim",
                    "linear_projection", "temporal_conv", "frame_position", "transformer_in",
                    "transformer_in_heads", "downsample_padding", "mid_block_scale_factor", "dropout", "prediction",
                    "addition_embed_type", "addition_embed_type_num_heads", "frame_text_embedding"});
  UNet3DConfig c;
  io::read_field(j, "in_channels", c.in_channels, "unet config");
  io::read_field(j, "out_channels", c.out_channels, "unet config");
  io::read_field(j, "block_out_channels", c.block_out_channels, "unet config");
  io::read_field(j, "attention_levels", c.attention_levels, "unet config");
  io::read_field(j, "layers_per_block", c.layers_per_block, "unet config");
  io::read_field(j, "norm_num_groups", c.norm_num_groups, "unet config");
  io::read_field(j, "norm_eps", c.norm_eps, "unet config");
  io::read_field(j, "cross_attention_dim", c.cross_attention_dim, "unet config");
  if (j.contains("attention_head_dim") && j["attention_head_dim"].is_number()) {
    int64_t head_dim = 0;
    io::read_field(j, "attention_head_dim", head_dim, "unet config");
    c.attention_head_dim = {head_dim};
  } else {
    io::read_field(j, "attention_head_dim", c.attention_head_dim, "unet config");
  }
  io::read_field(j, "linear_projection", c.linear_projection, "unet config");
  io::read_field(j, "temporal_conv", c.temporal_conv, "unet config");
  io::read_field(j, "frame_position", c.frame_position, "unet config");
  io::read_field(j, "transformer_in", c.transformer_in, "unet config");
  io::read_field(j, "transformer_in_heads", c.transformer_in_heads, "unet config");
  io::read_field(j, "downsample_padding", c.downsample_padding, "unet config");
  io::read_field(j, "mid_block_scale_factor", c.mid_block_scale_factor, "unet config");
  io::read_field(j, "dropout", c.dropout, "unet config");
  io::read_field(j, "prediction", c.prediction, "unet config");
  io::read_field(j, "addition_embed_type", c.addition_embed_type, "unet config");
  io::read_field(j, "addition_embed_type_num_heads", c.addition_embed_type_num_heads, "unet config");
  io::read_field(j, "frame_text_embedding", c.frame_text_embedding, "unet config");
  c.validate();
  return c;
}

UNet3DConfig UNet3DConfig::from_diffusers(const io::Json& j) {
  VDM_CHECK(j.is_object(), "diffusers config: expected a JSON object");
  const auto cls = io::field_or(j, "_class_name", std::string(), "diffusers config");
  VDM_CHECK(cls == "UNet3DConditionModel", "diffusers config: _class_name is '{}', expected UNet3DConditionModel",
            cls);
  VDM_CHECK(!j.contains("num_attention_heads") || j["num_attention_heads"].is_null(),
            "diffusers config: num_attention_heads is not supported by UNet3DConditionModel (use attention_head_dim)");
  VDM_CHECK(!j.contains("time_cond_proj_dim") || j["time_cond_proj_dim"].is_null(),
            "diffusers config: time_cond_proj_dim is not supported");
  const auto act_fn = io::field_or(j, "act_fn", std::string("silu"), "diffusers config");
  VDM_CHECK(act_fn == "silu", "diffusers config: act_fn '{}' is not supported (silu)", act_fn);
  UNet3DConfig c;
  io::read_field(j, "in_channels", c.in_channels, "unet config");
  io::read_field(j, "out_channels", c.out_channels, "unet config");
  io::read_field(j, "block_out_channels", c.block_out_channels, "unet config");
  io::read_field(j, "layers_per_block", c.layers_per_block, "unet config");
  io::read_field(j, "norm_num_groups", c.norm_num_groups, "unet config");
  io::read_field(j, "norm_eps", c.norm_eps, "unet config");
  io::read_field(j, "cross_attention_dim", c.cross_attention_dim, "unet config");
  io::read_field(j, "downsample_padding", c.downsample_padding, "unet config");
  io::read_field(j, "mid_block_scale_factor", c.mid_block_scale_factor, "unet config");
  if (j.contains("attention_head_dim") && j["attention_head_dim"].is_number()) {
    int64_t head_dim = 0;
    io::read_field(j, "attention_head_dim", head_dim, "unet config");
    c.attention_head_dim = {head_dim};
  } else {
    io::read_field(j, "attention_head_dim", c.attention_head_dim, "unet config");
  }
  std::vector<std::string> down = {"CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"};
  std::vector<std::string> up = {"UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"};
  io::read_field(j, "down_block_types", down, "unet config");
  io::read_field(j, "up_block_types", up, "unet config");
  VDM_CHECK(down.size() == c.block_out_channels.size() && up.size() == down.size(),
            "diffusers config: {} down and {} up block types for {} levels", down.size(), up.size(),
            c.block_out_channels.size());
  c.attention_levels.clear();
  for (size_t i = 0; i < down.size(); ++i) {
    VDM_CHECK(down[i] == "CrossAttnDownBlock3D" || down[i] == "DownBlock3D",
              "diffusers config: down_block_types[{}] '{}' is not supported (CrossAttnDownBlock3D, DownBlock3D)", i,
              down[i]);
    const bool attn = down[i] == "CrossAttnDownBlock3D";
    const std::string& mirror = up[down.size() - 1 - i];
    VDM_CHECK(mirror == (attn ? "CrossAttnUpBlock3D" : "UpBlock3D"),
              "diffusers config: up_block_types[{}] '{}' must mirror down_block_types[{}] '{}'", down.size() - 1 - i,
              mirror, i, down[i]);
    c.attention_levels.push_back(attn);
  }
  // Fixed by UNet3DConditionModel itself.
  c.linear_projection = true;
  c.temporal_conv = true;
  c.frame_position = "none";
  c.transformer_in = true;
  c.transformer_in_heads = 8;
  VDM_CHECK(c.attention_head_dim.size() == 1,
            "diffusers config: a per-level attention_head_dim cannot build UNet3DConditionModel's transformer_in");
  c.validate();
  return c;
}

UNet3DConfig UNet3DConfig::from_file(const std::string& path) {
  const io::Json j = io::read_json_file(path);
  try {
    if (io::field_or(j, "_class_name", std::string(), "config") == "UNet3DConditionModel") return from_diffusers(j);
    return from_json(j);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

UNet3DConfig UNet3DConfig::tiny() {
  UNet3DConfig c;
  c.block_out_channels = {8, 16};
  c.attention_levels = {true, false};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  c.cross_attention_dim = 8;
  c.attention_head_dim = {4};
  return c;
}

UNet3DConfig UNet3DConfig::modelscope() { return UNet3DConfig(); }

// ---- levels --------------------------------------------------------------------------------

UNetLevelImpl::UNetLevelImpl(const Options& o, const UNet3DConfig& config) : options(o) {
  const int64_t groups = config.norm_num_groups;
  for (int64_t i = 0; i < o.layers; ++i) {
    resnets->push_back(nn::ResnetBlock(nn::ResnetBlockOptions(o.resnet_in[i], o.resnet_out[i], config.time_embed_dim())
                                           .groups(groups)
                                           .eps(config.norm_eps)
                                           .dropout(config.dropout)
                                           .output_scale_factor(o.output_scale_factor)));
    if (o.temporal_conv) temp_convs->push_back(nn::TemporalConv(o.resnet_out[i], groups));
    const bool attend_here = o.attention && (!o.mid || i + 1 < o.layers);
    if (attend_here) {
      const int64_t c = o.resnet_out[i];
      attentions->push_back(nn::SpatialTransformer(nn::SpatialTransformerOptions(c, c / o.head_dim, o.head_dim)
                                                       .context_dim(config.cross_attention_dim)
                                                       .groups(groups)
                                                       .linear_projection(config.linear_projection)));
      temp_attentions->push_back(nn::TemporalTransformer(
          nn::TemporalTransformerOptions(c, c / o.head_dim, o.head_dim)
              .groups(groups)
              .frame_position(nn::parse_frame_position(config.frame_position))));
    }
  }
  const int64_t c_out = o.resnet_out.back();
  if (o.downsample) downsamplers->push_back(nn::Downsample(c_out, config.downsample_padding));
  if (o.upsample) upsamplers->push_back(nn::Upsample(c_out));
  register_module("resnets", resnets);
  if (!temp_convs->is_empty()) register_module("temp_convs", temp_convs);
  if (!attentions->is_empty()) {
    register_module("attentions", attentions);
    register_module("temp_attentions", temp_attentions);
  }
  if (o.downsample) register_module("downsamplers", downsamplers);
  if (o.upsample) register_module("upsamplers", upsamplers);
}

// ---- the U-Net -----------------------------------------------------------------------------

UNet3DImpl::UNet3DImpl(const UNet3DConfig& config) : config_(config) {
  config_.validate();
  const auto& ch = config_.block_out_channels;
  const int64_t n = config_.levels(), c0 = ch[0];
  conv_in = register_module("conv_in", nn::Conv2d(torch::nn::Conv2dOptions(config_.in_channels, c0, 3).padding(1)));
  time_embedding = register_module("time_embedding", nn::TimestepEmbedding(c0, config_.time_embed_dim()));
  if (config_.addition_embed_type == "text") {
    add_embedding = register_module(
        "add_embedding", nn::TextTimeEmbedding(config_.cross_attention_dim, config_.time_embed_dim(),
                                               config_.addition_embed_type_num_heads));
  }
  if (config_.frame_text_embedding) {
    const int64_t ct = config_.time_embed_dim();
    frame_embedding = register_module("frame_embedding", nn::TimestepEmbedding(ct + c0, ct));
    torch::NoGradGuard no_grad;
    frame_embedding->linear_2->weight.zero_();  // starts as the model without it
    frame_embedding->linear_2->bias.zero_();
  }
  if (config_.transformer_in) {
    transformer_in = register_module(
        "transformer_in", nn::TemporalTransformer(nn::TemporalTransformerOptions(c0, config_.transformer_in_heads,
                                                                                 config_.head_dim(0))
                                                      .groups(config_.norm_num_groups)
                                                      .frame_position(nn::parse_frame_position(config_.frame_position))));
  }
  int64_t out = c0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[i];
    UNetLevelImpl::Options o;
    o.layers = config_.layers_per_block;
    for (int64_t l = 0; l < o.layers; ++l) {
      o.resnet_in.push_back(l == 0 ? in : out);
      o.resnet_out.push_back(out);
    }
    o.attention = config_.attention_levels[i];
    o.temporal_conv = config_.temporal_conv;
    o.head_dim = config_.head_dim(i);
    o.downsample = i + 1 < n;
    o.upsample = false;
    down_blocks->push_back(UNetLevel(o, config_));
  }
  register_module("down_blocks", down_blocks);

  UNetLevelImpl::Options mid;
  mid.layers = 2;
  mid.resnet_in = {ch.back(), ch.back()};
  mid.resnet_out = {ch.back(), ch.back()};
  mid.attention = true;
  mid.temporal_conv = config_.temporal_conv;
  mid.head_dim = config_.head_dim(n - 1);
  mid.downsample = mid.upsample = false;
  mid.mid = true;
  mid.output_scale_factor = config_.mid_block_scale_factor;
  mid_block = register_module("mid_block", UNetLevel(mid, config_));

  int64_t prev_out = ch.back();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t level = n - 1 - i;  // mirrors down level `level`
    const int64_t out_c = ch[level];
    const int64_t in_c = ch[std::max<int64_t>(level - 1, 0)];
    UNetLevelImpl::Options o;
    o.layers = config_.layers_per_block + 1;
    for (int64_t l = 0; l < o.layers; ++l) {
      const int64_t skip = l == o.layers - 1 ? in_c : out_c;
      o.resnet_in.push_back((l == 0 ? prev_out : out_c) + skip);
      o.resnet_out.push_back(out_c);
    }
    o.attention = config_.attention_levels[level];
    o.temporal_conv = config_.temporal_conv;
    o.head_dim = config_.head_dim(level);
    o.downsample = false;
    o.upsample = i + 1 < n;
    o.up_path = true;
    up_blocks->push_back(UNetLevel(o, config_));
    prev_out = out_c;
  }
  register_module("up_blocks", up_blocks);
  conv_norm_out = register_module(
      "conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(config_.norm_num_groups, c0).eps(config_.norm_eps)));
  conv_out = register_module("conv_out", nn::Conv2d(torch::nn::Conv2dOptions(c0, config_.out_channels, 3).padding(1)));
}

int64_t UNet3DImpl::parameter_count() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

torch::Tensor UNet3DImpl::level_forward(UNetLevelImpl& level, torch::Tensor h, const torch::Tensor& temb,
                                        const torch::Tensor& context, int64_t frames,
                                        const UNet3DForwardOptions& opt, std::vector<torch::Tensor>* skips,
                                        const std::vector<int64_t>& upsample_size) {
  const auto& o = level.options;
  // Each residual block and each attention pair is one unit; with gradient checkpointing a
  // unit keeps no activations and is recomputed in backward. The lambdas capture by value
  // (but the level): backward runs after this function has returned.
  UNetLevelImpl* lv = &level;
  const bool temporal = opt.temporal;
  const torch::Tensor is_image = opt.is_image;
  auto resnet_unit = [lv, temporal, is_image, frames](int64_t i, const std::vector<torch::Tensor>& in) {
    auto x = lv->resnets[i]->as<nn::ResnetBlock>()->forward(in[0], in[1]);
    if (lv->options.temporal_conv && temporal) x = lv->temp_convs[i]->as<nn::TemporalConv>()->forward(x, frames, is_image);
    return x;
  };
  auto attend_unit = [lv, temporal, is_image, frames](int64_t i, const std::vector<torch::Tensor>& in) {
    auto x = lv->attentions[i]->as<nn::SpatialTransformer>()->forward(in[0], in[1]);
    if (temporal) x = lv->temp_attentions[i]->as<nn::TemporalTransformer>()->forward(x, frames, is_image);
    return x;
  };
  const bool recompute = opt.gradient_checkpointing && torch::GradMode::is_enabled();
  auto resnet = [&](int64_t i, const torch::Tensor& x) {
    if (!recompute) return resnet_unit(i, {x, temb});
    return nn::checkpoint([resnet_unit, i](const std::vector<torch::Tensor>& in) { return resnet_unit(i, in); },
                          {x, temb});
  };
  auto attend = [&](int64_t i, const torch::Tensor& x) {
    if (!recompute) return attend_unit(i, {x, context});
    return nn::checkpoint([attend_unit, i](const std::vector<torch::Tensor>& in) { return attend_unit(i, in); },
                          {x, context});
  };
  if (o.mid) {
    h = resnet(0, h);
    for (int64_t i = 1; i < o.layers; ++i) h = resnet(i, attend(i - 1, h));
    return h;
  }
  const bool up = o.up_path;
  for (int64_t i = 0; i < o.layers; ++i) {
    if (up) {  // up path: concatenate the matching skip first
      h = torch::cat({h, skips->back()}, 1);
      skips->pop_back();
    }
    h = resnet(i, h);
    if (o.attention) h = attend(i, h);
    if (!up && skips != nullptr) skips->push_back(h);
  }
  if (o.downsample) {
    h = level.downsamplers[0]->as<nn::Downsample>()->forward(h);
    skips->push_back(h);
  }
  if (o.upsample) h = level.upsamplers[0]->as<nn::Upsample>()->forward(h, upsample_size);
  return h;
}

torch::Tensor UNet3DImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                  const torch::Tensor& context, const UNet3DForwardOptions& opt) {
  VDM_CHECK(sample.dim() == 5, "unet: sample must be [B, C, F, H, W], got {} dims", sample.dim());
  const int64_t b = sample.size(0), c = sample.size(1), f = sample.size(2), h = sample.size(3), w = sample.size(4);
  VDM_CHECK(c == config_.in_channels, "unet: sample has {} channels, the model takes {}", c, config_.in_channels);
  VDM_CHECK(b > 0 && f > 0 && h > 0 && w > 0, "unet: empty sample [{}, {}, {}, {}, {}]", b, c, f, h, w);
  VDM_CHECK(timestep.numel() == 1 || (timestep.dim() == 1 && timestep.size(0) == b),
            "unet: timestep must be a scalar or [B = {}], got {} values", b, timestep.numel());
  if (config_.cross_attention_dim > 0) {
    VDM_CHECK(context.defined() && context.dim() == 3 && context.size(0) == b &&
                  context.size(2) == config_.cross_attention_dim,
              "unet: context (text embeddings) must be [B = {}, L, {}]", b, config_.cross_attention_dim);
  }
  if (opt.is_image.defined()) {
    VDM_CHECK(opt.is_image.dim() == 1 && opt.is_image.size(0) == b && opt.is_image.scalar_type() == torch::kBool,
              "unet: is_image must be a [B = {}] bool tensor", b);
  }
  const auto dtype = conv_in->weight.scalar_type();

  // Timestep embedding, once per video, then shared by its frames.
  auto t = timestep.reshape({-1}).expand({b}).to(sample.device());
  auto t_emb = nn::sinusoidal_embedding(t, config_.block_out_channels[0], /*flip_sin_to_cos=*/true, 0.0).to(dtype);
  auto temb = time_embedding(t_emb);  // [B, Ct]
  torch::Tensor text;
  if (add_embedding) {
    text = add_embedding(context.to(dtype));  // [B, Ct]
    temb = temb + text;
  }
  temb = temb.repeat_interleave(f, 0);  // [(B F), Ct]
  if (frame_embedding && opt.temporal) {
    // Per frame: MLP([pooled prompt, sinusoid(frame index)]). Image items have no frame order.
    const int64_t ct = text.size(1), c0 = config_.block_out_channels[0];
    auto index = torch::arange(f, torch::TensorOptions().device(sample.device()));
    auto position = nn::sinusoidal_embedding(index, c0, /*flip_sin_to_cos=*/true, 0.0).to(dtype);  // [F, C0]
    auto joint = torch::cat({text.unsqueeze(1).expand({b, f, ct}), position.unsqueeze(0).expand({b, f, c0})}, 2);
    auto per_frame = frame_embedding(joint);  // [B, F, Ct]
    if (opt.is_image.defined()) per_frame = per_frame * opt.is_image.logical_not().to(dtype).view({b, 1, 1});
    temb = temb + per_frame.reshape({b * f, ct});
  }
  torch::Tensor ctx;
  if (config_.cross_attention_dim > 0) ctx = context.to(dtype).repeat_interleave(f, 0);  // [(B F), L, Dc]

  auto x = sample.to(dtype).permute({0, 2, 1, 3, 4}).reshape({b * f, c, h, w});  // b c f h w -> (b f) c h w
  x = conv_in(x);                                                                   // [(B F), C0, H, W]
  if (transformer_in && opt.temporal) x = transformer_in(x, f, opt.is_image);

  std::vector<torch::Tensor> skips = {x};
  for (auto& block : *down_blocks) {
    x = level_forward(*block->as<UNetLevel>(), x, temb, ctx, f, opt, &skips, {});
  }
  x = level_forward(*mid_block, x, temb, ctx, f, opt, nullptr, {});
  for (size_t i = 0; i < up_blocks->size(); ++i) {
    auto& level = *up_blocks[i]->as<UNetLevel>();
    // Upsample to the size of the skip the next level consumes (handles odd sizes).
    std::vector<int64_t> size;
    if (level.options.upsample) {
      const auto& next_skip = skips[skips.size() - 1 - level.options.layers];
      size = {next_skip.size(2), next_skip.size(3)};
    }
    x = level_forward(level, x, temb, ctx, f, opt, &skips, size);
  }
  x = conv_out(torch::silu(conv_norm_out(compat::group_norm_input(x))));  // [(B F), Cout, H, W]
  return x.view({b, f, config_.out_channels, h, w}).permute({0, 2, 1, 3, 4});  // -> b c f h w
}

// ---- checkpoints ---------------------------------------------------------------------------

void save_unet3d(const std::string& path, const UNet3D& unet, const io::Metadata& extra) {
  io::Metadata meta = extra;
  meta["format"] = "pt";
  meta["vdm.config"] = unet->config().to_json().dump();
  io::save_safetensors(path, state_dict(*unet), meta);
}

UNet3D load_unet3d(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  UNet3DConfig config;
  io::TensorFile weights;
  if (fs::is_directory(path, ec)) {
    const auto config_path = (fs::path(path) / "config.json").string();
    VDM_CHECK(fs::exists(config_path, ec), "'{}' has no config.json (expected a diffusers model folder)", path);
    config = UNet3DConfig::from_file(config_path);
    weights = io::load_checkpoint(path);
  } else {
    weights = io::load_checkpoint(path);
    auto it = weights.metadata.find("vdm.config");
    VDM_CHECK(it != weights.metadata.end(),
              "{}: no \"vdm.config\" in the file's metadata; give a diffusers model folder or a checkpoint "
              "written by vdm",
              path);
    try {
      config = UNet3DConfig::from_json(io::parse_json(it->second, path + ": vdm.config"));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", path, e.what()));
    }
  }
  uint64_t weight_bytes = 0;
  for (const auto& [name, tensor] : weights.tensors) weight_bytes += tensor.nbytes();
  check_model_fits_file(config.parameter_bound(), weight_bytes, path);
  UNet3D unet(config);
  load_weights(*unet, weights, path);
  unet->eval();  // loaded for inference, as diffusers' from_pretrained; training calls train()
  return unet;
}

}  // namespace vdm::models
