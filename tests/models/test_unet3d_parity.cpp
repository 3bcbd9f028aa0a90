// Parity with diffusers' UNet3DConditionModel (fixtures: tools/make_unet3d_fixtures.py, three
// tiny random configurations differing in block types, layers per block, head widths, text
// widths and spatial size).
#include <gtest/gtest.h>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/checkpoint.h"
#include "vdm/models/unet3d.h"
#include "vdm/models/weights.h"

namespace {

using vdm::test::fixture;

vdm::models::UNet3D load_fixture_unet(const std::string& name) {
  const std::string folder = fixture("unet3d/" + name);
  auto config = vdm::models::UNet3DConfig::from_file(folder + "/config.json");
  vdm::models::UNet3D unet(config);
  vdm::models::load_weights(*unet, vdm::io::load_checkpoint(folder), folder);
  unet->eval();
  return unet;
}

class UNet3DParity : public ::testing::TestWithParam<std::string> {};

TEST_P(UNet3DParity, ForwardMatchesDiffusers) {
  auto unet = load_fixture_unet(GetParam());
  const auto io = vdm::io::load_safetensors(fixture("unet3d/" + GetParam() + "/io.safetensors"));
  torch::NoGradGuard no_grad;
  auto out = unet->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"));
  const auto& expected = io.at("output");
  ASSERT_EQ(out.sizes(), expected.sizes());
  const double diff = (out - expected).abs().max().item<double>();
  const double scale = expected.abs().max().item<double>();
  std::printf("[%s] max |vdm - diffusers| = %.3g (output max %.3g)\n", GetParam().c_str(), diff, scale);
  EXPECT_LT(diff, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Configs, UNet3DParity, ::testing::Values("a", "b", "c"));

TEST(UNet3DParityLoad, MismatchesAreListedInOneError) {
  // Config b's weights into config a's model: every kind of mismatch at once.
  auto config = vdm::models::UNet3DConfig::from_file(fixture("unet3d/a/config.json"));
  vdm::models::UNet3D unet(config);
  try {
    vdm::models::load_weights(*unet, vdm::io::load_checkpoint(fixture("unet3d/b")), "b");
    FAIL() << "expected an error";
  } catch (const vdm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unexpected key"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("problems"), std::string::npos) << msg;
  }
  // A missing tensor is named.
  auto file = vdm::io::load_checkpoint(fixture("unet3d/a"));
  file.tensors.erase(file.tensors.begin());
  const std::string missing = vdm::io::load_checkpoint(fixture("unet3d/a")).tensors.front().first;
  try {
    vdm::models::load_weights(*unet, file, "a");
    FAIL();
  } catch (const vdm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key '" + missing + "'"), std::string::npos) << e.what();
  }
}

}  // namespace

// A 4-step DDIM sample with classifier-free guidance (scale 7.5, negative embeddings), from
// given latents, equals diffusers' loop (TextToVideoSDPipeline's) on the same U-Net.
#include "vdm/diffusion/guidance.h"
#include "vdm/diffusion/sampler.h"
#include "vdm/diffusion/scheduler_config.h"
#include "vdm/models/unet3d_denoiser.h"

namespace {

TEST(UNet3DParitySampling, FourStepDdimWithGuidanceMatchesDiffusers) {
  const std::string folder = vdm::test::fixture("unet3d/a");
  const auto ref = vdm::io::load_safetensors(folder + "/ddim.safetensors");
  const auto config = vdm::diffusion::load_scheduler_config(folder + "/scheduler/scheduler_config.json");
  auto plan = vdm::diffusion::make_plan(config, 4);
  ASSERT_EQ(plan.steps(), 4u);
  const auto timesteps = ref.at("timesteps");
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(plan.levels[i].timestep, timesteps[i].item<double>());

  auto unet = load_fixture_unet("a");
  auto model = std::make_shared<vdm::models::UNet3DDenoiser>(unet, vdm::diffusion::parse_prediction(config.prediction_type));
  vdm::diffusion::Conditioning negative, cond;
  negative.tensors["encoder_hidden_states"] = ref.at("negative_prompt_embeds");
  cond.tensors["encoder_hidden_states"] = ref.at("prompt_embeds");
  vdm::diffusion::GuidanceOptions g;
  g.scale = 7.5;
  vdm::diffusion::ClassifierFreeGuidance guided(model, negative, g);

  vdm::diffusion::SamplerOptions options;
  vdm::diffusion::apply_sampler_settings(config, options);
  torch::NoGradGuard no_grad;
  auto z = ref.at("latents") * plan.init_noise_scale;
  auto out = vdm::diffusion::find_sampler(vdm::diffusion::default_sampler(config)).fn(guided, z, cond, plan, options);
  const double diff = (out - ref.at("sample")).abs().max().item<double>();
  std::printf("4-step DDIM + CFG: max |vdm - diffusers| = %.3g\n", diff);
  EXPECT_LT(diff, 1e-4);
}

}  // namespace

namespace {

// The same sample through the CLI: `vdm sample --model DIR` with diffusers-style inputs.
TEST(UNet3DCli, SampleWithADiffusersFolderMatchesDiffusers) {
  vdm::test::TempDir dir;
  const std::string folder = vdm::test::fixture("unet3d/a");
  const auto r = vdm::test::run_vdm("sample --threads 1 --model " + folder + " --scheduler-config " + folder +
                                    "/scheduler/scheduler_config.json --latents " + folder + "/ddim.safetensors" +
                                    " --prompt-embeds " + folder + "/ddim.safetensors --guidance 7.5 --steps 4 -o " +
                                    dir.file("out.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto out = vdm::io::load_safetensors(dir.file("out.safetensors")).at("sample");
  const auto ref = vdm::io::load_safetensors(folder + "/ddim.safetensors").at("sample");
  EXPECT_LT((out - ref).abs().max().item<double>(), 1e-4);

  // Bad flags name the problem and exit 2.
  const auto no_negative = vdm::test::run_vdm("sample --model " + folder + " --latents " + folder +
                                              "/ddim.safetensors --prompt-embeds " + folder +
                                              "/io.safetensors --guidance 3 -o " + dir.file("x.safetensors"));
  EXPECT_EQ(no_negative.exit_code, 2) << no_negative.output;
  EXPECT_NE(no_negative.output.find("prompt_embeds"), std::string::npos) << no_negative.output;
  const auto wrong_width = vdm::test::run_vdm("sample --model " + vdm::test::fixture("unet3d/b") + " --latents " +
                                              folder + "/ddim.safetensors --prompt-embeds " + folder +
                                              "/ddim.safetensors --steps 2 -o " + dir.file("y.safetensors"));
  EXPECT_NE(wrong_width.exit_code, 0) << wrong_width.output;
  EXPECT_NE(wrong_width.output.find("error: "), std::string::npos) << wrong_width.output;
}

}  // namespace
