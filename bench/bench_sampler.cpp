// Sampler overhead per step against a model forward (issue 3, acceptance 8).
//
// BM_SamplerStep/<sampler>: a sampler's own work per step (coefficients, tensor arithmetic,
//   noise draws), measured with a free denoiser that returns its input; one iteration is a
//   20-step plan, so items_per_second is steps per second.
// BM_ModelForward: one forward of a small factorized conv denoiser (2 space-only 3x3 convs and
//   a temporal 3-tap conv, 64 channels) on the same latents [1, 4, 8, 32, 32]; a real video
//   U-Net is orders of magnitude more work, so this ratio is an upper bound on the overhead.
//
//   ./build/bench_sampler --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include "vdm/core/runtime.h"
#include "vdm/diffusion/sampler.h"

namespace vd = vdm::diffusion;

namespace {

const std::vector<int64_t> kShape = {1, 4, 8, 32, 32};  // [B, C, F, H, W]
constexpr int kSteps = 20;

// Costs nothing: the sampler's work is all that is measured.
struct FreeDenoiser : vd::Denoiser {
  torch::Tensor forward(const torch::Tensor& z, const vd::BatchedNoiseLevel&,
                        const vd::Conditioning&) override {
    return z;
  }
  vd::Prediction prediction() const override { return vd::Prediction::kEps; }
};

// A small factorized video denoiser: conv(1x3x3) -> SiLU -> conv(3x1x1) -> SiLU -> conv(1x3x3).
struct SmallConvDenoiser : vd::Denoiser {
  torch::nn::Conv3d in{torch::nn::Conv3dOptions(4, 64, {1, 3, 3}).padding({0, 1, 1})};
  torch::nn::Conv3d temporal{torch::nn::Conv3dOptions(64, 64, {3, 1, 1}).padding({1, 0, 0})};
  torch::nn::Conv3d out{torch::nn::Conv3dOptions(64, 4, {1, 3, 3}).padding({0, 1, 1})};
  torch::Tensor forward(const torch::Tensor& z, const vd::BatchedNoiseLevel&,
                        const vd::Conditioning&) override {
    torch::NoGradGuard no_grad;
    auto h = torch::silu(in->forward(z));      // [B, 64, F, H, W]
    h = torch::silu(temporal->forward(h));     // [B, 64, F, H, W]
    return out->forward(h);                    // [B, C, F, H, W]
  }
  vd::Prediction prediction() const override { return vd::Prediction::kEps; }
};

void BM_SamplerStep(benchmark::State& state, const std::string& name) {
  vdm::set_threads(0);
  const auto& sampler = vd::find_sampler(name);
  const vd::CosineSchedule schedule;
  const auto plan = vd::uniform_time_plan(schedule, kSteps);
  FreeDenoiser model;
  vd::SamplerOptions options;
  options.generator = torch::make_generator<at::CPUGeneratorImpl>(0);
  const auto z = torch::randn(kShape);
  for (auto _ : state) {
    auto x = sampler.fn(model, z, {}, plan, options);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kSteps);  // items = steps
  state.SetLabel("20 steps per iteration");
}

void BM_ModelForward(benchmark::State& state) {
  vdm::set_threads(0);
  SmallConvDenoiser model;
  const auto z = torch::randn(kShape);
  const auto level = vd::BatchedNoiseLevel::broadcast({0.5, 0.7, 0.7, 500}, 1, torch::kCPU);
  for (auto _ : state) {
    auto y = model.forward(z, level, {});
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetItemsProcessed(state.iterations());  // items = forwards
}

}  // namespace

BENCHMARK_CAPTURE(BM_SamplerStep, ddim, std::string("ddim"))->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SamplerStep, v_ddim, std::string("v_ddim"))->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SamplerStep, ddpm, std::string("ddpm"))->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SamplerStep, dpmpp_2m, std::string("dpmpp_2m"))->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SamplerStep, euler, std::string("euler"))->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ModelForward)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
