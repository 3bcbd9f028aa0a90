// vdm sample: run a sampler with a denoiser and write the result.
//
//   vdm sample --checkpoint models/vdm-moving-shapes.safetensors --prompt "a red circle moving up"
//       --steps 30 --sampler ddim --guidance 5 --seed 2 --frames 24 -o clip.gif   (or .safetensors)
//
//   vdm sample --model gaussian:mean=0.5,std=0.2 --shape 1,3,8,32,32 -o out.safetensors
//   vdm sample --model gaussian:mean=0,std=0.5 --shape 1,3,8,64,64
//       --scheduler-config scheduler_config.json --sampler dpmpp_2m --steps 25 -o clip.gif
//
// The model comes from one small function (make_model) over a table of model kinds, so later
// kinds (a diffusers UNet folder, a vdm checkpoint) plug in without touching the sampling
// code. Without --scheduler-config the schedule is vdm's cosine schedule, sampled uniformly
// in t; with one, schedule, timesteps, default sampler and x0 clipping follow diffusers.
#include <chrono>
#include <filesystem>
#include <cmath>
#include <optional>
#include <sstream>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/gaussian_denoiser.h"
#include "vdm/diffusion/guidance.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/diffusion/scheduler_config.h"
#include "vdm/io/checkpoint.h"
#include "vdm/io/safetensors.h"
#include "vdm/io/video.h"
#include "vdm/models/unet3d_denoiser.h"
#include "vdm/pipelines/text_to_video.h"

namespace vdm::cli {

namespace {

namespace vd = vdm::diffusion;

struct SampleFlags {
  std::string model;
  std::string shape;
  std::string scheduler_config;
  std::string scheduler_class;
  std::string sampler;
  int steps = 50;
  double eta = 0.0;
  uint64_t seed = 0;
  std::string latents;
  std::string output;
  std::string prediction = "x";
  double fps = 8;
  std::string prompt_embeds;
  double guidance = 1.0;
  // Text-to-video models trained by vdm (--checkpoint ... --prompt ...).
  std::string checkpoint;
  std::string prompt;
  std::optional<int64_t> frames;
  bool allow_unknown_words = false;
  bool steps_given = false, guidance_given = false, fps_given = false;
};

// "k=v,k=v" -> map; throws UsageError naming the model kind on a malformed pair.
std::map<std::string, std::string> parse_params(const std::string& kind, const std::string& text) {
  std::map<std::string, std::string> params;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto eq = item.find('=');
    VDM_USAGE_CHECK(eq != std::string::npos && eq > 0,
                    "--model {}: expected key=value pairs separated by ',', got '{}'", kind, item);
    params[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return params;
}

double parse_number(const std::string& what, const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && std::isfinite(value)) return value;
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("{}: '{}' is not a number", what, text));
}

std::vector<double> parse_numbers(const std::string& what, const std::string& text) {
  std::vector<double> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, '/')) out.push_back(parse_number(what, item));
  return out;
}

// ---- models: name -> factory -------------------------------------------------------------

struct ModelKind {
  const char* name;
  const char* usage;
  std::shared_ptr<vd::Denoiser> (*make)(const std::map<std::string, std::string>& params,
                                        vd::Prediction output);
};

void check_keys(const char* kind, const std::map<std::string, std::string>& params,
                const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : params) {
    VDM_USAGE_CHECK(std::find(allowed.begin(), allowed.end(), key) != allowed.end(),
                    "--model {}: unknown parameter '{}'; expected {}", kind, key,
                    fmt::format("{}", fmt::join(allowed, ", ")));
  }
}

std::shared_ptr<vd::Denoiser> make_gaussian(const std::map<std::string, std::string>& params,
                                            vd::Prediction output) {
  check_keys("gaussian", params, {"mean", "std"});
  const double mean = params.count("mean") ? parse_number("--model gaussian mean", params.at("mean")) : 0.0;
  const double std = params.count("std") ? parse_number("--model gaussian std", params.at("std")) : 1.0;
  VDM_USAGE_CHECK(std >= 0, "--model gaussian: std must be >= 0, got {}", std);
  return std::make_shared<vd::AnalyticDenoiser>(vd::GaussianMixture::gaussian(mean, std), output);
}

std::shared_ptr<vd::Denoiser> make_mixture(const std::map<std::string, std::string>& params,
                                           vd::Prediction output) {
  check_keys("mixture", params, {"means", "std", "weights"});
  VDM_USAGE_CHECK(params.count("means"), "--model mixture needs means=M1/M2/...");
  const auto means = parse_numbers("--model mixture means", params.at("means"));
  const double std = params.count("std") ? parse_number("--model mixture std", params.at("std")) : 0.1;
  std::vector<double> weights(means.size(), 1.0);
  if (params.count("weights")) weights = parse_numbers("--model mixture weights", params.at("weights"));
  VDM_USAGE_CHECK(weights.size() == means.size(), "--model mixture: {} weights for {} means",
                  weights.size(), means.size());
  vd::GaussianMixture data;
  for (size_t i = 0; i < means.size(); ++i) {
    VDM_USAGE_CHECK(weights[i] > 0 && std >= 0, "--model mixture: weights must be > 0, std >= 0");
    data.components.push_back({weights[i], means[i], std});
  }
  return std::make_shared<vd::AnalyticDenoiser>(data, output);
}

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"gaussian", "gaussian:mean=M,std=S  exact denoiser for data ~ N(M, S^2) per value",
       make_gaussian},
      {"mixture", "mixture:means=M1/M2/...,std=S[,weights=W1/W2/...]  exact denoiser for a "
                  "Gaussian mixture", make_mixture},
  };
  return kinds;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string model_help() {
  std::string out = "model: a diffusers UNet3DConditionModel folder (or pipeline folder), a vdm .safetensors checkpoint, or";
  for (const auto& kind : model_kinds()) out += std::string("\n  ") + kind.usage;
  return out;
}

// A 3D U-Net from a diffusers UNet3DConditionModel folder (or a pipeline folder's unet/), or a
// vdm .safetensors checkpoint. Its prediction type: the scheduler config's prediction_type
// when one is given (diffusers keeps it there), else the model config's.
std::shared_ptr<vd::Denoiser> make_unet(const std::string& path, const std::optional<vd::SchedulerConfig>& config,
                                        const torch::Device& device, torch::Dtype dtype) {
  namespace fs = std::filesystem;
  std::string folder = path;
  if (io::is_diffusers_pipeline(path)) folder = (fs::path(path) / "unet").string();
  auto unet = models::load_unet3d(folder);
  unet->to(device, dtype);
  unet->eval();
  const auto prediction =
      config ? vd::parse_prediction(config->prediction_type) : vd::parse_prediction(unet->config().prediction);
  spdlog::info("model: {} ({} parameters, predicts {}, {} on {})", folder, unet->parameter_count(),
               vd::prediction_name(prediction), dtype_name(dtype), device.str());
  return std::make_shared<models::UNet3DDenoiser>(unet, prediction);
}

bool is_model_path(const std::string& spec) {
  std::error_code ec;
  return std::filesystem::is_directory(spec, ec) || ends_with(spec, ".safetensors");
}

// The one place an analytic denoiser is made from --model kind:params.
std::shared_ptr<vd::Denoiser> make_model(const std::string& spec, vd::Prediction output) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  for (const auto& kind : model_kinds()) {
    if (name == kind.name) return kind.make(parse_params(name, rest), output);
  }
  std::string names;
  for (const auto& kind : model_kinds()) names += (names.empty() ? "" : ", ") + std::string(kind.name);
  throw UsageError(fmt::format("--model '{}': unknown model kind '{}'; available: {}", spec, name,
                               names));
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const double v = parse_number("--shape", item);
    VDM_USAGE_CHECK(v >= 1 && v <= 1 << 20 && std::floor(v) == v,
                    "--shape: every size must be a positive integer, got '{}'", item);
    shape.push_back(static_cast<int64_t>(v));
  }
  VDM_USAGE_CHECK(shape.size() == 5, "--shape must be B,C,F,H,W (5 sizes), got '{}'", text);
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  VDM_USAGE_CHECK(numel <= (int64_t{1} << 31), "--shape {} has {} values; at most 2^31", text, numel);
  return shape;
}

// [B, C, F, H, W] -> the first item as [3, F, H, W] (1 channel is replicated to grey RGB).
torch::Tensor video_frames(const torch::Tensor& sample) {
  auto item = sample[0].to(torch::kCPU, torch::kFloat32);  // [C, F, H, W]
  if (item.size(0) == 1) item = item.expand({3, item.size(1), item.size(2), item.size(3)});
  return item.contiguous();
}

// --checkpoint CK --prompt P: the text-to-video pipeline over a model vdm trained, with the
// sampler flags of this command; -o may also be a .safetensors file (tensor "sample",
// [1, 3, F, H, W] in [-1, 1]).
int run_text_to_video_sample(const SampleFlags& f, const GlobalOptions& global, bool to_tensor) {
  VDM_USAGE_CHECK(!f.prompt.empty(), "--checkpoint needs --prompt (what the clip shows)");
  VDM_USAGE_CHECK(f.model.empty() && f.shape.empty() && f.latents.empty() && f.prompt_embeds.empty() &&
                      f.scheduler_config.empty(),
                  "--checkpoint with --prompt takes the model's own schedule and shape: drop --model, --shape, "
                  "--latents, --prompt-embeds and --scheduler-config");
  VDM_USAGE_CHECK(!f.frames || (*f.frames >= 1 && *f.frames <= 1024), "--frames must be in [1, 1024], got {}",
                  f.frames.value_or(0));
  if (!f.sampler.empty()) sampler_flag(f.sampler);
  const torch::Device device = parse_device(global.device);
  auto pipe = pipelines::TextToVideoPipeline::load(f.checkpoint, device, parse_dtype(global.dtype, device));
  if (!f.allow_unknown_words) prompt_flag(pipe, f.prompt);
  pipelines::TextToVideoParams params;
  if (!f.sampler.empty()) params.sampler = f.sampler;
  if (f.steps_given) params.steps = f.steps;
  if (f.guidance_given) params.guidance = f.guidance;
  params.frames = f.frames;
  params.seed = f.seed;
  params.eta = f.eta;
  params.allow_unknown_words = f.allow_unknown_words;
  params.progress = global.progress();
  const auto start = std::chrono::steady_clock::now();
  const auto clip = pipe.generate(f.prompt, params);  // [3, F, H, W]
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string sampler = params.sampler.value_or(pipe.defaults().sampler);
  const int steps = params.steps.value_or(pipe.defaults().steps);
  if (to_tensor) {
    io::save_safetensors(f.output, {{"sample", clip.unsqueeze(0)}},
                         {{"checkpoint", f.checkpoint},
                          {"prompt", f.prompt},
                          {"sampler", sampler},
                          {"steps", std::to_string(steps)},
                          {"guidance", fmt::format("{}", params.guidance.value_or(pipe.defaults().guidance))},
                          {"seed", std::to_string(f.seed)}});
  } else {
    io::VideoWriteOptions video;
    video.fps = f.fps_given ? f.fps : pipe.defaults().fps;
    io::write_video(f.output, clip, video);
  }
  fmt::print("wrote {}: \"{}\", {} frames {}x{}, {} {} steps in {:.2f} s with {}\n", f.output, f.prompt, clip.size(1),
             clip.size(3), clip.size(2), sampler, steps, seconds, f.checkpoint);
  return 0;
}

int run_sample(const SampleFlags& f, const GlobalOptions& global) {
  // 1. Validate every flag before any work.
  VDM_USAGE_CHECK(!f.output.empty(), "-o OUT is required (.safetensors or a video path)");
  const bool to_tensor = ends_with(f.output, ".safetensors");
  VDM_USAGE_CHECK(to_tensor || io::is_video_output_path(f.output),
                  "--output {}: expected a .safetensors file or a video (.gif, .mp4, .webm, or a folder "
                  "ending in '/' for PNG frames)", f.output);
  output_folder_flag(f.output);
  VDM_USAGE_CHECK(f.steps >= 1 && f.steps <= 100000, "--steps must be in [1, 100000], got {}", f.steps);
  VDM_USAGE_CHECK(std::isfinite(f.fps) && f.fps > 0 && f.fps <= 1000, "--fps must be in (0, 1000], got {}", f.fps);
  VDM_USAGE_CHECK(std::isfinite(f.guidance) && f.guidance >= 0 && f.guidance <= 100,
                  "--guidance must be in [0, 100], got {}", f.guidance);
  VDM_USAGE_CHECK(f.checkpoint.empty() != f.model.empty(),
                  "give one of --model (a denoiser) or --checkpoint (a text-to-video model vdm trained)");
  if (!f.checkpoint.empty()) input_path_flag("--checkpoint", f.checkpoint);
  // A --model that is not an analytic "kind:params" is a folder or file to read.
  if (!f.model.empty() && (f.model.find(':') == std::string::npos || is_model_path(f.model))) {
    input_path_flag("--model", f.model);
  }
  for (const auto& [flag, path] : {std::pair<const char*, const std::string*>{"--scheduler-config", &f.scheduler_config},
                                   {"--latents", &f.latents},
                                   {"--prompt-embeds", &f.prompt_embeds}}) {
    if (!path->empty()) input_path_flag(flag, *path);
  }
  if (!f.scheduler_class.empty()) {
    const auto known = vd::supported_scheduler_classes();  // "A, B, C"
    bool found = false;
    std::istringstream names(known);
    for (std::string name; std::getline(names >> std::ws, name, ',');) found = found || name == f.scheduler_class;
    VDM_USAGE_CHECK(found, "--scheduler {}: expected one of {}", f.scheduler_class, known);
  }
  if (!f.checkpoint.empty()) return run_text_to_video_sample(f, global, to_tensor);
  VDM_USAGE_CHECK(f.prompt.empty() && !f.frames, "--prompt and --frames go with --checkpoint");
  VDM_USAGE_CHECK(!f.shape.empty() || !f.latents.empty(), "--shape B,C,F,H,W is required (or --latents)");
  vd::Prediction output;
  try {
    output = vd::parse_prediction(f.prediction);
  } catch (const Error& e) {
    throw UsageError(std::string("--prediction: ") + e.what());
  }
  const bool network = is_model_path(f.model);
  std::shared_ptr<vd::Denoiser> model;
  if (!network) model = make_model(f.model, output);

  std::optional<vd::SchedulerConfig> config;
  std::string scheduler_config = f.scheduler_config;
  if (scheduler_config.empty() && network && io::is_diffusers_pipeline(f.model)) {
    const auto candidate = std::filesystem::path(f.model) / "scheduler" / "scheduler_config.json";
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) scheduler_config = candidate.string();
  }
  if (!scheduler_config.empty()) {
    std::optional<std::string> override_class;
    if (!f.scheduler_class.empty()) override_class = f.scheduler_class;
    config = vd::load_scheduler_config(scheduler_config, override_class);
    for (const auto& field : config->ignored_fields) {
      spdlog::debug("{}: field '{}' is not read by {} (ignored, as diffusers does)",
                    scheduler_config, field, config->class_name);
    }
    VDM_USAGE_CHECK(f.steps <= config->num_train_timesteps,
                    "--steps {} exceeds the config's num_train_timesteps {}", f.steps,
                    config->num_train_timesteps);
  } else {
    VDM_USAGE_CHECK(f.scheduler_class.empty(), "--scheduler needs --scheduler-config");
  }
  const std::string sampler_name =
      !f.sampler.empty() ? f.sampler : config ? vd::default_sampler(*config) : std::string("ddim");
  const vd::SamplerInfo* sampler = &sampler_flag(sampler_name);
  VDM_USAGE_CHECK(f.eta >= 0 && f.eta <= 1, "--eta must be in [0, 1], got {}", f.eta);
  VDM_USAGE_CHECK(f.eta == 0 || sampler->uses_eta, "--eta applies to ddim only; sampler '{}' has no eta",
                  sampler->name);

  const torch::Device device = parse_device(global.device);
  const torch::Dtype dtype = parse_dtype(global.dtype, device);
  if (network) model = make_unet(f.model, config, device, dtype);

  // Text conditioning, as diffusers pipelines take it: prompt_embeds [B, L, D] and optionally
  // negative_prompt_embeds (the unconditional input of classifier-free guidance).
  vd::Conditioning cond;
  if (!f.prompt_embeds.empty()) {
    VDM_USAGE_CHECK(network, "--prompt-embeds needs a network --model (a folder or checkpoint)");
    const auto file = io::load_safetensors(f.prompt_embeds);
    VDM_USAGE_CHECK(file.contains("prompt_embeds"), "--prompt-embeds {}: no tensor named 'prompt_embeds'",
                    f.prompt_embeds);
    const auto& embeds = file.at("prompt_embeds");
    VDM_USAGE_CHECK(embeds.dim() == 3, "--prompt-embeds {}: 'prompt_embeds' must be [B, L, D], got {} dims",
                    f.prompt_embeds, embeds.dim());
    cond.tensors["encoder_hidden_states"] = embeds.to(device, torch::kFloat32);
    if (f.guidance != 1.0) {
      VDM_USAGE_CHECK(file.contains("negative_prompt_embeds"),
                      "--guidance {} needs 'negative_prompt_embeds' in {} (the unconditional input)", f.guidance,
                      f.prompt_embeds);
      vd::Conditioning negative;
      negative.tensors["encoder_hidden_states"] = file.at("negative_prompt_embeds").to(device, torch::kFloat32);
      vd::GuidanceOptions g;
      g.scale = f.guidance;
      model = std::make_shared<vd::ClassifierFreeGuidance>(model, negative, g);
    }
  } else {
    VDM_USAGE_CHECK(f.guidance == 1.0, "--guidance needs --prompt-embeds");
  }

  // 2. Initial latents: --latents (tensor "latents", used as given) or seeded noise, then
  //    scaled as diffusers scales them (init_noise_sigma).
  torch::Tensor latents;
  if (!f.latents.empty()) {
    const auto file = io::load_safetensors(f.latents);
    VDM_USAGE_CHECK(file.contains("latents"), "--latents {}: no tensor named 'latents'", f.latents);
    latents = file.at("latents").to(torch::kFloat32);
    VDM_USAGE_CHECK(latents.dim() == 5, "--latents {}: 'latents' must be [B, C, F, H, W], got {} dims",
                    f.latents, latents.dim());
    if (!f.shape.empty()) {
      const auto shape = parse_shape(f.shape);
      VDM_USAGE_CHECK(latents.sizes().vec() == shape, "--latents shape {} differs from --shape {}",
                      fmt::format("{}", fmt::join(latents.sizes(), ",")), f.shape);
    }
  } else {
    auto generator = torch::make_generator<at::CPUGeneratorImpl>(f.seed);
    latents = torch::randn(parse_shape(f.shape), generator, torch::kFloat32);  // [B, C, F, H, W]
  }
  VDM_USAGE_CHECK(to_tensor || latents.size(1) == 1 || latents.size(1) == 3,
                  "--output {}: a video needs C = 1 or 3 channels, the shape has C = {}; write "
                  ".safetensors instead", f.output, latents.size(1));

  const auto schedule = config ? std::shared_ptr<vd::Schedule>(vd::make_schedule(*config))
                               : std::make_shared<vd::CosineSchedule>();
  const auto plan = config ? vd::make_plan(*config, f.steps) : vd::uniform_time_plan(*schedule, f.steps);
  vd::SamplerOptions options;
  if (config) vd::apply_sampler_settings(*config, options);
  options.eta = f.eta;
  options.generator = torch::make_generator<at::CPUGeneratorImpl>(f.seed + 1);  // sampler noise
  options.progress = global.progress();
  options.progress_label = "sample " + sampler->name;
  // A network keeps the sampler's arithmetic in float32 and runs itself in --dtype.
  const auto z = (plan.init_noise_scale * latents).to(device, network ? torch::kFloat32 : dtype);
  if (network && cond.empty() == false) {
    const int64_t b = cond.at("encoder_hidden_states").size(0);
    VDM_USAGE_CHECK(b == 1 || b == z.size(0), "--prompt-embeds has batch {} for latents of batch {}", b, z.size(0));
    cond = cond.expand_batch(z.size(0));
  }

  // 3. Sample.
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  const auto sample = sampler->fn(*model, z, cond, plan, options)
                          .to(torch::kCPU, torch::kFloat32)
                          .contiguous();  // [B, C, F, H, W]
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  VDM_CHECK(torch::isfinite(sample).all().item<bool>(),
            "sampling produced non-finite values ({} with {} on {})", sampler->name,
            model->prediction() == vd::Prediction::kEps ? "an eps model" : "this model",
            plan.description);

  // 4. Write.
  if (to_tensor) {
    io::save_safetensors(f.output, {{"sample", sample}},
                         {{"model", f.model},
                          {"sampler", sampler->name},
                          {"steps", std::to_string(f.steps)},
                          {"seed", std::to_string(f.seed)},
                          {"eta", fmt::format("{}", f.eta)},
                          {"plan", plan.description}});
  } else {
    io::VideoWriteOptions video;
    video.fps = f.fps;
    io::write_video(f.output, video_frames(sample), video);
  }
  fmt::print("wrote {}: sample [{}] in {} steps of {} ({}) in {:.2f} s; mean {:.4f}, std {:.4f}\n",
             f.output, fmt::join(sample.sizes(), ", "), plan.steps(), sampler->name,
             plan.description, seconds, sample.mean().item<double>(),
             sample.numel() > 1 ? sample.std().item<double>() : 0.0);
  return 0;
}

}  // namespace

Runner setup_sample(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<SampleFlags>();
  command.add_option("--model", flags->model, model_help());
  command.add_option("--checkpoint", flags->checkpoint,
                     "a text-to-video model vdm trained (model file or training checkpoint); with --prompt");
  command.add_option("--prompt", flags->prompt, "with --checkpoint: what the clip shows");
  command.add_option("--frames", flags->frames, "with --checkpoint: frames (default: the model's)");
  command.add_flag("--allow-unknown-words", flags->allow_unknown_words,
                   "with --checkpoint: go on with words the model never saw");
  command.add_option("--shape", flags->shape, "latent shape B,C,F,H,W (e.g. 1,3,8,32,32)");
  command.add_option("--scheduler-config", flags->scheduler_config,
                     "diffusers scheduler_config.json (" + vd::supported_scheduler_classes() + ")");
  command.add_option("--scheduler", flags->scheduler_class,
                     "read --scheduler-config as this class instead of its _class_name");
  command.add_option("--sampler", flags->sampler,
                     "one of: " + vd::sampler_names() +
                         " (default: the config's scheduler class, else ddim)");
  command.add_option("--steps", flags->steps, "sampling steps (--checkpoint: default the model's)")
      ->capture_default_str()
      ->each([flags](const std::string&) { flags->steps_given = true; });
  command.add_option("--eta", flags->eta, "DDIM noise: 0 deterministic, 1 ancestral")
      ->capture_default_str();
  command.add_option("--seed", flags->seed, "seed of the initial noise and the sampler's noise")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--latents", flags->latents,
                     "initial noise: safetensors file with tensor 'latents' [B,C,F,H,W]");
  command.add_option("--prediction", flags->prediction,
                     "what the analytic model outputs: eps, x or v")
      ->capture_default_str();
  command.add_option("--prompt-embeds", flags->prompt_embeds,
                     "safetensors with 'prompt_embeds' [B, L, D] and optionally 'negative_prompt_embeds' "
                     "(text conditioning, as diffusers pipelines take it)");
  command.add_option("--guidance", flags->guidance,
                     "classifier-free guidance scale (1: none; otherwise needs negative_prompt_embeds; "
                     "--checkpoint: default the model's)")
      ->capture_default_str()
      ->each([flags](const std::string&) { flags->guidance_given = true; });
  command.add_option("--fps", flags->fps, "frame rate of video outputs")
      ->capture_default_str()
      ->each([flags](const std::string&) { flags->fps_given = true; });
  command.add_option("-o,--output", flags->output,
                     "OUT.safetensors (tensor 'sample', float32) or a video: .gif, .mp4, .webm, "
                     "DIR/ for PNGs (first batch item; C = 1 is shown grey, C must be 1 or 3)")
      ->required();
  return [flags, &global] { return run_sample(*flags, global); };
}

}  // namespace vdm::cli
