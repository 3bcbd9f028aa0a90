// `vdm sample`: runs the CLI binary end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "test_util.h"
#include "vdm/diffusion/gaussian_denoiser.h"
#include "vdm/diffusion/scheduler_config.h"
#include "vdm/io/safetensors.h"

namespace fs = std::filesystem;
using namespace vdm::diffusion;

namespace {

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

Result vdm_cli(const std::string& args) {
  const std::string command = std::string(VDM_CLI_PATH) + " " + args + " 2>&1";
  Result r{-1, {}};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string temp_path(const std::string& name) {
  const auto dir = fs::path(::testing::TempDir()) / "vdm_sample_cli";
  fs::create_directories(dir);
  return (dir / name).string();
}

}  // namespace

TEST(DiffusionCli, SampleWritesFloat32TensorWithTheDataMoments) {
  const auto out = temp_path("gauss.safetensors");
  const auto r = vdm_cli("sample -q --threads 1 --model gaussian:mean=0.5,std=0.2 --shape 2,1,4,16,16 "
                         "--sampler dpmpp_2m --steps 30 --seed 3 -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + out), std::string::npos) << r.output;
  const auto file = vdm::io::load_safetensors(out);
  const auto sample = file.at("sample");
  EXPECT_EQ(sample.scalar_type(), torch::kFloat32);
  EXPECT_EQ(sample.sizes(), (std::vector<int64_t>{2, 1, 4, 16, 16}));
  // 2048 values of N(0.5, 0.2^2): mean SE 0.0044, std SE 0.0031; 5 SE + 30-step bias
  EXPECT_NEAR(sample.mean().item<double>(), 0.5, 0.03);
  EXPECT_NEAR(sample.std().item<double>(), 0.2, 0.02);
  // The same seed gives the same sample.
  const auto again = temp_path("gauss2.safetensors");
  ASSERT_EQ(vdm_cli("sample -q --threads 1 --model gaussian:mean=0.5,std=0.2 --shape 2,1,4,16,16 "
                    "--sampler dpmpp_2m --steps 30 --seed 3 -o " + again).code, 0);
  EXPECT_TRUE(torch::equal(vdm::io::load_safetensors(again).at("sample"), sample));
}

TEST(DiffusionCli, LatentsAndSchedulerConfigMatchTheLibrary) {
  // --latents are used as given and scaled by init_noise_sigma as diffusers does: the CLI's
  // result must equal the library's for the same config, plan and latents.
  const std::string config_path =
      std::string(VDM_FIXTURES_DIR) + "/schedulers/euler_linspace_eps/scheduler_config.json";
  auto gen = test::cpu_generator(21);
  const auto latents = torch::randn({1, 3, 2, 4, 4}, gen);
  const auto latents_path = temp_path("latents.safetensors");
  vdm::io::save_safetensors(latents_path, {{"latents", latents}});
  const auto out = temp_path("euler.safetensors");
  const auto r = vdm_cli("sample -q --threads 1 --model gaussian:mean=-0.2,std=0.4 --prediction eps "
                         "--scheduler-config " + config_path + " --steps 12 --latents " +
                         latents_path + " -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto config = load_scheduler_config(config_path);
  const auto plan = make_plan(config, 12);
  ASSERT_GT(plan.init_noise_scale, 0.99);
  AnalyticDenoiser model(GaussianMixture::gaussian(-0.2, 0.4), Prediction::kEps);
  SamplerOptions options;
  apply_sampler_settings(config, options);
  const auto expected = sample_euler(model, plan.init_noise_scale * latents, {}, plan, options);
  EXPECT_LT(test::max_abs_diff(vdm::io::load_safetensors(out).at("sample"), expected), 1e-6);
}

TEST(DiffusionCli, BadFlagsExitWithUsageErrors) {
  const auto out = temp_path("bad.safetensors");
  struct Case {
    std::string args, message;
  };
  // (each case starts a process, ~1 s with LibTorch loading, so only the main kinds of mistake)
  const std::vector<Case> cases = {
      {"--model gaussian:mean=0,std=1 --shape 1,2,3 -o " + out, "--shape must be B,C,F,H,W"},
      {"--model gaussian:mean=0,std=1 --shape 1,1,1,2,2 --sampler heun -o " + out,
       "valid samplers: ddim, v_ddim, ddpm, dpmpp_2m, euler"},
      {"--model gaussian:mean=0,std=1 --shape 1,1,1,2,2 --sampler euler --eta 0.5 -o " + out,
       "--eta applies to ddim only"},
      {"--model flow:x=1 --shape 1,1,1,2,2 -o " + out, "unknown model kind 'flow'; available: gaussian, mixture"},
      {"--model gaussian:mean=0,std=1 --shape 1,4,1,2,2 -o " + temp_path("x.gif"), "C = 1 or 3"},
  };
  for (const auto& c : cases) {
    const auto r = vdm_cli("sample -q " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  // A config with an unsupported value is an error naming the field (exit 1: a bad file).
  const auto config = temp_path("karras.json");
  {
    FILE* f = std::fopen(config.c_str(), "w");
    std::fputs(R"({"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": true})", f);
    std::fclose(f);
  }
  const auto r = vdm_cli("sample -q --model gaussian:mean=0,std=1 --shape 1,1,1,2,2 --scheduler-config " +
                         config + " -o " + out);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'use_karras_sigmas'"), std::string::npos) << r.output;
}

TEST(DiffusionCli, WritesAVideo) {
  const auto out = temp_path("clip.gif");
  const auto r = vdm_cli("sample -q --threads 1 --model mixture:means=-0.8/0.8,std=0.1 "
                         "--shape 1,3,4,16,16 --steps 10 -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(fs::file_size(out), 0u);
}
