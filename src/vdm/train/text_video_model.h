// The text-to-video model vdm trains and ships: a factorized 3D U-Net (models/unet3d.h) in
// pixel space, a word-level text encoder (models/text_encoder.h) trained with it, and the
// diffusion settings both were trained under (seed 1.1-1.3: a continuous-time VP cosine
// schedule, v-prediction by default). One config holds all of it and travels in every file
// the model is saved to, so a file alone is enough to sample it.
//
//   auto model = vdm::train::load_text_video_model("models/vdm-moving-shapes.safetensors");
//   auto schedule = model.schedule();
//   auto cond = model.conditioning({"a red circle moving left"});      // encoder_hidden_states
//   vdm::models::UNet3DDenoiser denoiser(model.unet);
//
// Files: a model file holds the weights as "unet.<name>" and "text_encoder.<name>" with the
// config in the metadata ("vdm.text_to_video"); a training checkpoint (train/checkpoint.h)
// holds the same under "model." and "ema."; load_text_video_model reads either (the EMA
// weights of a checkpoint, which are the ones that sample well).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "vdm/diffusion/denoiser.h"
#include "vdm/diffusion/schedule.h"
#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"
#include "vdm/models/text_encoder.h"
#include "vdm/models/unet3d.h"

namespace vdm::train {

// A schedule whose network time input is `scale * inner.model_time(t)`. The U-Net embeds its
// time input sinusoidally with periods up to 2 pi 10^4 (diffusers' timestep embedding, made
// for integer timesteps 0..999); fed t in [0, 1] directly, most frequencies would stay almost
// constant. Scaling by 1000 gives a continuous-time model the resolution a discrete one has.
class TimeScaledSchedule final : public diffusion::Schedule {
 public:
  TimeScaledSchedule(std::shared_ptr<const diffusion::Schedule> inner, double scale);
  double lambda(double t) const override { return inner_->lambda(t); }
  double t_of_lambda(double lambda) const override { return inner_->t_of_lambda(lambda); }
  double model_time(double t) const override { return scale_ * inner_->model_time(t); }
  bool is_variance_preserving() const override { return inner_->is_variance_preserving(); }
  std::string describe() const override;

 private:
  std::shared_ptr<const diffusion::Schedule> inner_;
  double scale_;
};

// How noise levels are drawn and fed to the network.
struct DiffusionSettings {
  diffusion::CosineOptions cosine;  // VP cosine, log-SNR clipped to [-15, 15], no shift
  double time_scale = 1000;         // see TimeScaledSchedule
  std::string loss_weighting = "none";  // diffusion/loss.h: none | min_snr | max_snr_1
  double min_snr_gamma = 5.0;

  io::Json to_json() const;
  static DiffusionSettings from_json(const io::Json& json);
};

// Sampling defaults saved with the model (what `vdm generate` uses without flags).
struct SamplingDefaults {
  std::string sampler = "dpmpp_2m";  // second order: good clips in few steps
  int steps = 20;
  double guidance = 4.0;  // classifier-free guidance scale
  double fps = 8;         // of written videos

  io::Json to_json() const;
  static SamplingDefaults from_json(const io::Json& json);
};

struct TextVideoConfig {
  models::UNet3DConfig unet;  // in/out channels 3: pixel space
  models::TextEncoderConfig text_encoder;
  DiffusionSettings diffusion;
  SamplingDefaults sampling;
  // The clip shape the model is trained on (and generates by default).
  int64_t frames = 16, height = 32, width = 32;

  void validate() const;  // throws vdm::Error naming the field
  io::Json to_json() const;
  static TextVideoConfig from_json(const io::Json& json);  // unknown fields are errors
  // For tests: tiny U-Net and text encoder, 4 frames of 16x16.
  static TextVideoConfig tiny();
};

struct TextVideoModel {
  TextVideoConfig config;
  models::UNet3D unet{nullptr};
  models::TextEncoder text_encoder{nullptr};

  // The training and sampling schedule: cosine, time input scaled.
  std::shared_ptr<diffusion::Schedule> schedule() const;
  // {"encoder_hidden_states": [B, L, D]} for prompts (WordTokenizer::encode's errors).
  diffusion::Conditioning conditioning(const std::vector<std::string>& prompts, bool allow_unknown_words = false);
  // The same for the learned null embedding (the unconditional input of guidance).
  diffusion::Conditioning null_conditioning(int64_t batch);

  // Parameters and buffers of both parts, named "unet.<name>" and "text_encoder.<name>".
  io::TensorList state() const;
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  void load_state(const io::TensorFile& file, const std::string& source);  // key check, as load_weights
  void to(const torch::Device& device);
  void train(bool on);
  int64_t parameter_count() const;
};

// Fresh weights (LibTorch's default initialisation, from torch's global generator: seed it
// with torch::manual_seed first for reproducible runs).
TextVideoModel make_text_video_model(const TextVideoConfig& config);

// Writes the model's weights and config atomically (float32).
void save_text_video_model(const std::string& path, const TextVideoModel& model, const io::Metadata& extra = {});

// Reads a model file or a training checkpoint (its EMA weights, or its raw weights when
// use_ema is false). Throws vdm::Error naming the file and what is missing.
TextVideoModel load_text_video_model(const std::string& path, bool use_ema = true);

// The config stored in a model file or checkpoint, without loading the weights.
TextVideoConfig read_text_video_config(const std::string& path);

}  // namespace vdm::train
