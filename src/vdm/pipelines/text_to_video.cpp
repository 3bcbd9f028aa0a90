#include "vdm/pipelines/text_to_video.h"

#include <cctype>
#include <cmath>
#include <filesystem>

#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/guidance.h"
#include "vdm/diffusion/plan.h"
#include "vdm/diffusion/reconstruction_guidance.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/models/unet3d_denoiser.h"

namespace vdm::pipelines {

namespace fs = std::filesystem;

TextToVideoPipeline::TextToVideoPipeline(train::TextVideoModel model, torch::Device device, torch::Dtype dtype)
    : model_(std::move(model)), device_(device), dtype_(dtype) {
  VDM_CHECK(model_.unet && model_.text_encoder, "text-to-video: the model is empty");
  model_.train(false);
  // The U-Net runs in `dtype`; the text encoder stays float32 (it runs once per request).
  model_.unet->to(device_, dtype_);
  model_.text_encoder->to(device_);
}

TextToVideoPipeline TextToVideoPipeline::load(const std::string& path, torch::Device device, torch::Dtype dtype) {
  return TextToVideoPipeline(train::load_text_video_model(path), device, dtype);
}

void TextToVideoPipeline::check_prompt(const std::string& prompt) const {
  model_.text_encoder->tokenizer().encode(prompt, /*allow_unknown=*/false);
}

torch::Tensor TextToVideoPipeline::generate(const std::string& prompt, const TextToVideoParams& params) {
  return generate_batch({prompt}, {params.seed}, params)[0];
}

torch::Tensor TextToVideoPipeline::generate_batch(const std::vector<std::string>& prompts,
                                                  const std::vector<uint64_t>& seeds,
                                                  const TextToVideoParams& params, const KnownFrames* known) {
  namespace vd = vdm::diffusion;
  const auto& defaults = model_.config.sampling;
  VDM_CHECK(!prompts.empty() && prompts.size() == seeds.size(),
            "text-to-video: {} prompts and {} seeds (need one seed per prompt, at least one)", prompts.size(),
            seeds.size());
  const auto& sampler = vd::find_sampler(params.sampler.value_or(defaults.sampler));
  const int steps = params.steps.value_or(defaults.steps);
  const double guidance = params.guidance.value_or(defaults.guidance);
  const int64_t frames = known ? known->known.size(0) : params.frames.value_or(model_.config.frames);
  const auto batch = static_cast<int64_t>(prompts.size());
  if (known) {
    VDM_CHECK(known->known.dim() == 1 && known->known.scalar_type() == torch::kBool && frames >= 1,
              "text-to-video: known frames need a [F] bool mask");
    VDM_CHECK(known->frames.dim() == 5 && (known->frames.size(0) == 1 || known->frames.size(0) == batch) &&
                  known->frames.size(1) == 3 && known->frames.size(2) == frames &&
                  known->frames.size(3) == model_.config.height && known->frames.size(4) == model_.config.width,
              "text-to-video: known frames must be [1 or {}, 3, {}, {}, {}], got [{}]", batch, frames,
              model_.config.height, model_.config.width, fmt::join(known->frames.sizes(), ", "));
  }
  const bool unconditional = prompts.front().empty();
  for (const auto& p : prompts) {
    VDM_CHECK(p.empty() == unconditional, "text-to-video: either every prompt is empty (unconditional) or none");
  }
  VDM_CHECK(steps >= 1 && steps <= 10000, "text-to-video: steps must be in [1, 10000], got {}", steps);
  VDM_CHECK(std::isfinite(guidance), "text-to-video: guidance must be finite, got {}", guidance);
  VDM_CHECK(frames >= 1 && frames <= 4096, "text-to-video: frames must be in [1, 4096], got {}", frames);
  VDM_CHECK(params.eta == 0 || sampler.uses_eta, "text-to-video: eta applies to ddim only, not '{}'", sampler.name);

  torch::NoGradGuard no_grad;
  // 1. Text: [B, L, D] embeddings; the null embedding is guidance's unconditional input.
  const auto cond = unconditional ? model_.null_conditioning(batch)
                                  : model_.conditioning(prompts, params.allow_unknown_words);
  const auto negative = model_.null_conditioning(1);

  // 2. The denoiser: the U-Net, wrapped in classifier-free guidance unless the scale is 1.
  std::shared_ptr<vd::Denoiser> denoiser = std::make_shared<models::UNet3DDenoiser>(model_.unet);
  if (guidance != 1.0 && !unconditional) {
    vd::GuidanceOptions guide;
    guide.scale = guidance;
    denoiser = std::make_shared<vd::ClassifierFreeGuidance>(denoiser, negative, guide);
  }

  // 3. Seeded noise per item, float32 latents (the model computes in its own dtype).
  const auto schedule = model_.schedule();
  const auto plan = vd::uniform_time_plan(*schedule, steps);
  std::vector<torch::Tensor> noise;
  for (const auto seed : seeds) {
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
    noise.push_back(torch::randn({1, 3, frames, model_.config.height, model_.config.width}, gen, torch::kFloat32));
  }
  auto z = (plan.init_noise_scale * torch::cat(noise, 0)).to(device_);  // [B, 3, F, H, W]

  // 4. Sample.
  vd::SamplerOptions options;
  options.eta = params.eta;
  options.generator = torch::make_generator<at::CPUGeneratorImpl>(seeds.front() + 1);
  if (known) {
    // Reconstruction guidance around the (guided) model, and the known frames' latents redrawn
    // from q(z_t | x^a) before the first step and after every step.
    const auto observation = vd::Observation::entries(known->frames.to(device_, torch::kFloat32).expand_as(z),
                                                      known->known.to(device_).view({1, 1, frames, 1, 1}));
    denoiser = std::make_shared<vd::ReconstructionGuidance>(denoiser, observation, known->weight);
    auto renoise_generator = torch::make_generator<at::CPUGeneratorImpl>(seeds.front() + 2);
    vd::renoise_known(z, plan.levels.front(), observation, renoise_generator);
    options.callback = vd::renoise_known_callback(observation, renoise_generator);
  }
  options.progress = params.progress;
  options.progress_label = fmt::format("generate ({} {} steps)", sampler.name, steps);
  const auto x = sampler.fn(*denoiser, z, cond, plan, options);  // [B, 3, F, H, W]
  VDM_CHECK(torch::isfinite(x).all().item<bool>(), "text-to-video: sampling produced non-finite values ({}, {} steps)",
            sampler.name, steps);
  return x.clamp(-1.0, 1.0).to(torch::kCPU, torch::kFloat32).contiguous();
}

std::string default_model_path() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = exe.parent_path();
    candidates.push_back(dir / "models" / kDefaultModelFile);
    candidates.push_back(dir.parent_path() / "models" / kDefaultModelFile);
    candidates.push_back(dir.parent_path() / "share" / "vdm" / "models" / kDefaultModelFile);
  }
#ifdef VDM_SOURCE_DIR
  candidates.push_back(fs::path(VDM_SOURCE_DIR) / "models" / kDefaultModelFile);
#endif
  std::string tried;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return c.string();
    tried += "\n  " + c.string();
  }
  throw Error(fmt::format(
      "no shipped model found; looked for {} in:{}\nTrain one (docs/training.md):\n"
      "  vdm train --config configs/moving_shapes_small.json --data synthetic:moving-shapes --out runs/shapes\n"
      "  cp runs/shapes/model.safetensors models/{}\n"
      "or pass --checkpoint PATH (a model file or a training checkpoint).",
      kDefaultModelFile, tried, kDefaultModelFile));
}

std::string prompt_slug(const std::string& prompt) {
  std::string slug;
  bool dash = false;
  for (unsigned char c : prompt) {
    if (std::isalnum(c) && c < 128) {
      if (dash && !slug.empty()) slug.push_back('-');
      dash = false;
      slug.push_back(static_cast<char>(std::tolower(c)));
      if (slug.size() >= 80) break;
    } else {
      dash = true;
    }
  }
  return slug.empty() ? "video" : slug;
}

}  // namespace vdm::pipelines
