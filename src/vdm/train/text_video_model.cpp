#include "vdm/train/text_video_model.h"

#include <cmath>

#include "vdm/core/error.h"
#include "vdm/diffusion/loss.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/models/weights.h"

namespace vdm::train {

namespace {

constexpr const char* kConfigKey = "vdm.text_to_video";

// The tensors of `file` whose names start with `prefix`, with the prefix removed.
io::TensorFile with_prefix(const io::TensorFile& file, const std::string& prefix) {
  io::TensorFile out;
  for (const auto& [name, t] : file.tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.tensors.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

bool has_prefix(const io::TensorFile& file, const std::string& prefix) {
  for (const auto& entry : file.tensors) {
    if (entry.first.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

}  // namespace

// ---- TimeScaledSchedule ------------------------------------------------------------------------

TimeScaledSchedule::TimeScaledSchedule(std::shared_ptr<const diffusion::Schedule> inner, double scale)
    : inner_(std::move(inner)), scale_(scale) {
  VDM_CHECK(inner_ != nullptr, "time-scaled schedule: no inner schedule");
  VDM_CHECK(std::isfinite(scale) && scale > 0, "time-scaled schedule: scale must be > 0, got {}", scale);
}

std::string TimeScaledSchedule::describe() const {
  return fmt::format("{}, network time {} t", inner_->describe(), scale_);
}

// ---- configs -----------------------------------------------------------------------------------

io::Json DiffusionSettings::to_json() const {
  io::Json j;
  j["schedule"] = "cosine";
  j["logsnr_min"] = cosine.logsnr_min;
  j["logsnr_max"] = cosine.logsnr_max;
  j["shift"] = cosine.shift;
  j["time_scale"] = time_scale;
  j["loss_weighting"] = loss_weighting;
  j["min_snr_gamma"] = min_snr_gamma;
  return j;
}

DiffusionSettings DiffusionSettings::from_json(const io::Json& j) {
  const char* what = "diffusion config";
  io::check_fields(j, what, {"schedule", "logsnr_min", "logsnr_max", "shift", "time_scale", "loss_weighting",
                         "min_snr_gamma"});
  DiffusionSettings s;
  std::string schedule = "cosine";
  io::read_field(j, "schedule", schedule, what);
  VDM_CHECK(schedule == "cosine", "{}: schedule '{}' is not supported; expected cosine", what, schedule);
  io::read_field(j, "logsnr_min", s.cosine.logsnr_min, what);
  io::read_field(j, "logsnr_max", s.cosine.logsnr_max, what);
  io::read_field(j, "shift", s.cosine.shift, what);
  io::read_field(j, "time_scale", s.time_scale, what);
  io::read_field(j, "loss_weighting", s.loss_weighting, what);
  io::read_field(j, "min_snr_gamma", s.min_snr_gamma, what);
  VDM_CHECK(s.cosine.logsnr_min < s.cosine.logsnr_max, "{}: logsnr_min ({}) must be below logsnr_max ({})", what,
            s.cosine.logsnr_min, s.cosine.logsnr_max);
  VDM_CHECK(std::isfinite(s.time_scale) && s.time_scale > 0, "{}: time_scale must be > 0, got {}", what,
            s.time_scale);
  diffusion::parse_loss_weighting(s.loss_weighting);  // throws listing the names
  return s;
}

io::Json SamplingDefaults::to_json() const {
  io::Json j;
  j["sampler"] = sampler;
  j["steps"] = steps;
  j["guidance"] = guidance;
  j["fps"] = fps;
  return j;
}

SamplingDefaults SamplingDefaults::from_json(const io::Json& j) {
  const char* what = "sampling config";
  io::check_fields(j, what, {"sampler", "steps", "guidance", "fps"});
  SamplingDefaults s;
  io::read_field(j, "sampler", s.sampler, what);
  io::read_field(j, "steps", s.steps, what);
  io::read_field(j, "guidance", s.guidance, what);
  io::read_field(j, "fps", s.fps, what);
  diffusion::find_sampler(s.sampler);  // throws listing the samplers
  VDM_CHECK(s.steps >= 1 && s.steps <= 10000, "{}: steps must be in [1, 10000], got {}", what, s.steps);
  VDM_CHECK(std::isfinite(s.guidance), "{}: guidance must be finite", what);
  VDM_CHECK(s.fps > 0 && s.fps <= 1000, "{}: fps must be in (0, 1000], got {}", what, s.fps);
  return s;
}

void TextVideoConfig::validate() const {
  unet.validate();
  text_encoder.validate();
  VDM_CHECK(unet.in_channels == 3 && unet.out_channels == 3,
            "model config: the text-to-video U-Net works in RGB pixel space (in_channels = out_channels = 3), "
            "got {} and {}", unet.in_channels, unet.out_channels);
  VDM_CHECK(unet.cross_attention_dim == text_encoder.width,
            "model config: unet.cross_attention_dim ({}) must equal text_encoder.width ({})",
            unet.cross_attention_dim, text_encoder.width);
  VDM_CHECK(frames >= 1 && height >= 8 && width >= 8 && frames <= 4096 && height <= 8192 && width <= 8192,
            "model config: clip shape {}x{}x{} out of range (frames >= 1, height and width >= 8)", frames, height,
            width);
  const int64_t factor = int64_t{1} << (unet.levels() - 1);
  VDM_CHECK(height % factor == 0 && width % factor == 0,
            "model config: height {} and width {} must be multiples of {} (the U-Net downsamples {} times)",
            height, width, factor, unet.levels() - 1);
}

io::Json TextVideoConfig::to_json() const {
  io::Json j;
  j["frames"] = frames;
  j["height"] = height;
  j["width"] = width;
  j["unet"] = unet.to_json();
  j["text_encoder"] = text_encoder.to_json();
  j["diffusion"] = diffusion.to_json();
  j["sampling"] = sampling.to_json();
  return j;
}

TextVideoConfig TextVideoConfig::from_json(const io::Json& j) {
  const char* what = "model config";
  io::check_fields(j, what, {"frames", "height", "width", "unet", "text_encoder", "diffusion", "sampling"});
  VDM_CHECK(j.contains("unet"), "{}: missing field 'unet' (the U-Net config)", what);
  TextVideoConfig c;
  io::read_field(j, "frames", c.frames, what);
  io::read_field(j, "height", c.height, what);
  io::read_field(j, "width", c.width, what);
  c.unet = models::UNet3DConfig::from_json(j.at("unet"));
  if (j.contains("text_encoder")) c.text_encoder = models::TextEncoderConfig::from_json(j.at("text_encoder"));
  if (j.contains("diffusion")) c.diffusion = DiffusionSettings::from_json(j.at("diffusion"));
  if (j.contains("sampling")) c.sampling = SamplingDefaults::from_json(j.at("sampling"));
  c.validate();
  return c;
}

TextVideoConfig TextVideoConfig::tiny() {
  TextVideoConfig c;
  c.unet = models::UNet3DConfig::tiny();
  c.unet.in_channels = c.unet.out_channels = 3;
  c.unet.attention_levels = {false, true};  // attention at 8x8 only: 256-token attention dominates otherwise
  c.unet.prediction = "v";
  c.unet.frame_position = "relative";
  c.unet.temporal_conv = false;
  c.unet.transformer_in = false;
  c.text_encoder = models::TextEncoderConfig::tiny();
  c.unet.cross_attention_dim = c.text_encoder.width;
  c.frames = 4;
  c.height = c.width = 16;
  c.sampling.steps = 4;
  return c;
}

// ---- the model ---------------------------------------------------------------------------------

std::shared_ptr<diffusion::Schedule> TextVideoModel::schedule() const {
  return std::make_shared<TimeScaledSchedule>(std::make_shared<diffusion::CosineSchedule>(config.diffusion.cosine),
                                              config.diffusion.time_scale);
}

diffusion::Conditioning TextVideoModel::conditioning(const std::vector<std::string>& prompts,
                                                     bool allow_unknown_words) {
  diffusion::Conditioning cond;
  cond.tensors["encoder_hidden_states"] = text_encoder->encode(prompts, allow_unknown_words);  // [B, L, D]
  return cond;
}

diffusion::Conditioning TextVideoModel::null_conditioning(int64_t batch) {
  diffusion::Conditioning cond;
  cond.tensors["encoder_hidden_states"] = text_encoder->null_embedding(batch);  // [B, L, D]
  return cond;
}

io::TensorList TextVideoModel::state() const {
  io::TensorList out;
  for (auto& [name, t] : models::state_dict(*unet)) out.emplace_back("unet." + name, t);
  for (auto& [name, t] : models::state_dict(*text_encoder)) out.emplace_back("text_encoder." + name, t);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> TextVideoModel::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : unet->named_parameters(true)) out.emplace_back("unet." + p.key(), p.value());
  for (const auto& p : text_encoder->named_parameters(true)) out.emplace_back("text_encoder." + p.key(), p.value());
  return out;
}

void TextVideoModel::load_state(const io::TensorFile& file, const std::string& source) {
  for (const auto& [name, t] : file.tensors) {
    VDM_CHECK(name.rfind("unet.", 0) == 0 || name.rfind("text_encoder.", 0) == 0,
              "{}: unexpected tensor '{}' (a text-to-video model holds unet.* and text_encoder.*)", source, name);
  }
  models::load_weights(*unet, with_prefix(file, "unet."), source + " (unet)");
  models::load_weights(*text_encoder, with_prefix(file, "text_encoder."), source + " (text_encoder)");
}

void TextVideoModel::to(const torch::Device& device) {
  unet->to(device);
  text_encoder->to(device);
}

void TextVideoModel::train(bool on) {
  unet->train(on);
  text_encoder->train(on);
}

int64_t TextVideoModel::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

TextVideoModel make_text_video_model(const TextVideoConfig& config) {
  config.validate();
  TextVideoModel m;
  m.config = config;
  m.unet = models::UNet3D(config.unet);
  m.text_encoder = models::TextEncoder(config.text_encoder);
  return m;
}

void save_text_video_model(const std::string& path, const TextVideoModel& model, const io::Metadata& extra) {
  io::TensorList tensors;
  for (auto& [name, t] : model.state()) tensors.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat32));
  io::Metadata meta = extra;
  meta["format"] = "pt";
  meta[kConfigKey] = model.config.to_json().dump();
  io::save_safetensors(path, tensors, meta);
}

TextVideoConfig read_text_video_config(const std::string& path) {
  const auto header = io::read_safetensors_header(path);
  const auto it = header.metadata.find(kConfigKey);
  VDM_CHECK(it != header.metadata.end(),
            "{}: no \"{}\" in the file's metadata: not a text-to-video model or checkpoint written by vdm train",
            path, kConfigKey);
  try {
    return TextVideoConfig::from_json(io::parse_json(it->second, path + ": " + kConfigKey));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

TextVideoModel load_text_video_model(const std::string& path, bool use_ema) {
  const auto config = read_text_video_config(path);
  models::check_model_fits_file(config.unet.parameter_bound() + config.text_encoder.parameter_bound(),
                                io::read_safetensors_header(path).data_size, path);
  auto model = make_text_video_model(config);
  const auto file = io::load_safetensors(path);
  if (has_prefix(file, "ema.") || has_prefix(file, "model.")) {  // a training checkpoint
    const std::string prefix = use_ema && has_prefix(file, "ema.") ? "ema." : "model.";
    model.load_state(with_prefix(file, prefix), path + " [" + prefix.substr(0, prefix.size() - 1) + "]");
  } else {
    model.load_state(file, path);
  }
  model.train(false);
  int64_t non_finite = 0;
  for (const auto& [name, tensor] : model.state()) {
    if (tensor.is_floating_point()) non_finite += tensor.numel() - torch::isfinite(tensor).sum().item<int64_t>();
  }
  if (non_finite > 0) spdlog::warn("{}: {} weights are NaN or infinite; its samples will be too", path, non_finite);
  return model;
}

}  // namespace vdm::train
