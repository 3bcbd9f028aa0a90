// Samplers driven by the exact posterior mean (issue 3, acceptance 3, 4 and 7).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "vdm/core/error.h"
#include "vdm/diffusion/forward_process.h"
#include "vdm/diffusion/gaussian_denoiser.h"
#include "vdm/diffusion/sampler.h"

using namespace vdm::diffusion;
using vdm::diffusion::test::cpu_generator;
using vdm::diffusion::test::max_abs_diff;

namespace {

const CosineSchedule& cosine() {
  static const CosineSchedule schedule;
  return schedule;
}

torch::Tensor run(const std::string& sampler, Denoiser& model, const torch::Tensor& z,
                  const SamplingPlan& plan, uint64_t seed, double eta = 0) {
  SamplerOptions options;
  options.generator = cpu_generator(seed);
  options.eta = eta;
  return find_sampler(sampler).fn(model, z, Conditioning{}, plan, options);
}

struct Case {
  std::string sampler;
  double eta;
};
const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = {{"ddim", 0.0}, {"ddim", 1.0}, {"v_ddim", 0.0},
                                          {"ddpm", 0.0}, {"dpmpp_2m", 0.0}, {"euler", 0.0}};
  return cases;
}

}  // namespace

TEST(SamplerAngular, VDdimStepEqualsCartesianDdim) {
  // Acceptance 3: z_s = cos(phi_s - phi_t) z_t + sin(phi_s - phi_t) v_hat equals the DDIM
  // (eta = 0) step, for models of every parameterization, on a cosine and a discrete schedule.
  auto gen = cpu_generator(3);
  const auto z = torch::randn({2, 3, 2, 4, 4}, gen, torch::kFloat64);
  const auto discrete = DiscreteSchedule::from_betas(scaled_linear_betas(1000, 0.00085, 0.012));
  for (const Schedule* schedule : {static_cast<const Schedule*>(&cosine()),
                                   static_cast<const Schedule*>(discrete.get())}) {
    const auto plan = uniform_time_plan(*schedule, 7);
    for (auto prediction : {Prediction::kV, Prediction::kEps, Prediction::kX}) {
      AnalyticDenoiser model(GaussianMixture{{{0.5, -0.8, 0.3}, {0.5, 0.9, 0.2}}}, prediction);
      // single steps from each level, and the whole trajectory
      for (size_t i = 0; i < plan.steps(); ++i) {
        const auto one = plan.from_step(i);
        SamplingPlan single = one;
        single.levels.resize(1);
        single.targets.resize(1);
        const auto a = run("v_ddim", model, z, single, 0), b = run("ddim", model, z, single, 0);
        EXPECT_LT(max_abs_diff(a, b), 1e-6) << "step " << i;
      }
      const double diff = max_abs_diff(run("v_ddim", model, z, plan, 0), run("ddim", model, z, plan, 0));
      std::printf("%s, %s model: max |v_ddim - ddim| over 7 steps = %.3g\n",
                  schedule->describe().c_str(), prediction_name(prediction).c_str(), diff);
      EXPECT_LT(diff, 1e-6);
    }
  }
}

TEST(SamplerOracle, GaussianAndMixtureMomentsForEverySamplerAndParameterization) {
  // Acceptance 4: data N(0.5, 0.3^2) and the two-point-like mixture 0.5 N(-1, 0.05^2) +
  // 0.5 N(1, 0.05^2); 16384 independent coordinates; 200 steps uniform in t on the cosine
  // schedule, ending at clean data. Standard errors: mean sd/128 (0.0023 gaussian, 0.0078
  // mixture), variance sqrt(2/n) = 1.1% relative. Tolerances: mean 4 standard errors + 0.005
  // for discretization bias (0.014 gaussian, 0.036 mixture); variance 3% relative
  // for the deterministic samplers and 6% for the ancestral ones (ddpm, ddim eta=1), whose
  // 200-step discretization bias is larger (measured: -1.6% deterministic, -5% ancestral on
  // the Gaussian; both samplers converge to 0 bias as steps grow). Every parameterization of
  // the model is run on the Gaussian; the mixture (costlier) with the v model.
  const std::vector<std::pair<std::string, GaussianMixture>> datasets = {
      {"gaussian", GaussianMixture::gaussian(0.5, 0.3)},
      {"mixture", GaussianMixture{{{0.5, -1.0, 0.05}, {0.5, 1.0, 0.05}}}}};
  const auto plan = uniform_time_plan(cosine(), 200);
  for (const auto& [data_name, data] : datasets) {
    const double mean = data.mean(), var = data.variance();
    const bool mixture = data_name == "mixture";
    for (const auto& c : all_cases()) {
      const bool ancestral = c.sampler == "ddpm" || c.eta > 0;
      const std::vector<Prediction> predictions =
          mixture ? std::vector<Prediction>{Prediction::kV}
                  : std::vector<Prediction>{Prediction::kEps, Prediction::kX, Prediction::kV};
      for (auto prediction : predictions) {
        AnalyticDenoiser model(data, prediction);
        auto gen = cpu_generator(42);
        const auto z = plan.init_noise_scale * torch::randn({4, 1, 4, 32, 32}, gen);  // float32
        const auto x = run(c.sampler, model, z, plan, 99, c.eta);
        const double m = x.mean().item<double>(), v = x.var().item<double>();
        // the mixture's samples must sit on its two modes, not between them
        const double on_modes =
            mixture ? ((x.abs() - 1).abs() < 0.25).to(torch::kFloat64).mean().item<double>() : 1.0;
        std::printf("%-8s %-8s eta=%.0f %-3s: mean %+.4f (exact %+.4f), var %.4f (exact %.4f), "
                    "on modes %.4f\n",
                    data_name.c_str(), c.sampler.c_str(), c.eta, prediction_name(prediction).c_str(),
                    m, mean, v, var, on_modes);
        const double mean_tolerance = 4 * std::sqrt(var / static_cast<double>(x.numel())) + 0.005;
        EXPECT_NEAR(m, mean, mean_tolerance) << data_name << " " << c.sampler;
        EXPECT_NEAR(v / var, 1.0, ancestral ? 0.06 : 0.03) << data_name << " " << c.sampler;
        EXPECT_GT(on_modes, 0.98) << data_name << " " << c.sampler;
      }
    }
  }
}

namespace {
// Slope of log(error) against log(steps), least squares.
double fit_slope(const std::vector<int>& steps, const std::vector<double>& errors) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const double lx = std::log(steps[i]), ly = std::log(errors[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}
}  // namespace

TEST(SamplerOracle, DeterministicSamplersConvergeToExactOdeSolutionAtTheirOrder) {
  // Acceptance 4: the probability-flow ODE of N(mu, s^2) data is solved in closed form
  // (gaussian_pf_ode_solution). Run each deterministic sampler from the same z over the same
  // log-SNR interval with 8..256 steps and fit the slope of log(max error) vs log(steps):
  // DDIM (and Euler, and angular v-DDIM, the same update) first order, DPM-Solver++(2M) second.
  // Setup: data N(0.5, 0.5^2); cosine schedule from lambda = -10 to +10, steps uniform in t;
  // DPM-Solver++(2M) without diffusers' lower_order_final heuristic (pure 2M). Measured slopes
  // -0.98 (DDIM) and -1.95 (2M); tolerance 0.15.
  const double mu = 0.5, s = 0.5;
  AnalyticDenoiser model(GaussianMixture::gaussian(mu, s), Prediction::kEps);
  auto gen = cpu_generator(5);
  const auto z = torch::randn({2, 1, 2, 8, 8}, gen, torch::kFloat64);
  const double t_start = cosine().t_of_lambda(-10.0), t_end = cosine().t_of_lambda(10.0);
  const std::vector<int> steps = {8, 16, 32, 64, 128, 256};
  struct Expect {
    std::string sampler;
    double order;
  };
  for (const auto& e : std::vector<Expect>{{"ddim", 1}, {"v_ddim", 1}, {"euler", 1}, {"dpmpp_2m", 2}}) {
    std::vector<double> errors;
    for (int n : steps) {
      const auto plan = uniform_time_plan(cosine(), n, t_start, t_end);
      const auto exact = gaussian_pf_ode_solution(z, plan.levels.front(), plan.targets.back(), mu, s);
      SamplerOptions options;
      options.lower_order_final = false;
      const auto x = find_sampler(e.sampler).fn(model, z, Conditioning{}, plan, options);
      errors.push_back(max_abs_diff(x, exact));
    }
    const double slope = fit_slope(steps, errors);
    std::printf("%-9s errors:", e.sampler.c_str());
    for (double err : errors) std::printf(" %.3g", err);
    std::printf("  slope %.3f (expected -%.0f)\n", slope, e.order);
    EXPECT_NEAR(slope, -e.order, 0.15) << e.sampler;
    // and in the asymptotic range each doubling divides the error by 2^order
    EXPECT_NEAR(std::log2(errors[4] / errors[5]), e.order, 0.2) << e.sampler;
    EXPECT_LT(errors.back(), errors.front());
  }
}

TEST(SamplerDeterminism, SameSeedSameSampleDifferentSeedDifferentNoise) {
  // Acceptance 7.
  AnalyticDenoiser model(GaussianMixture::gaussian(0.1, 0.7), Prediction::kEps);
  const auto plan = uniform_time_plan(cosine(), 10);
  auto gen = cpu_generator(11);
  const auto z = torch::randn({2, 3, 2, 4, 4}, gen);
  for (const auto& c : all_cases()) {
    const auto a = run(c.sampler, model, z, plan, 1234, c.eta);
    const auto b = run(c.sampler, model, z, plan, 1234, c.eta);
    EXPECT_TRUE(torch::equal(a, b)) << c.sampler;
    const bool draws = c.sampler == "ddpm" || (c.sampler == "ddim" && c.eta > 0);
    const auto other = run(c.sampler, model, z, plan, 4321, c.eta);
    EXPECT_EQ(torch::equal(a, other), !draws) << c.sampler;
  }
}

TEST(SamplerRegistry, NamesComeFromOneTable) {
  EXPECT_EQ(sampler_names(), "ddim, v_ddim, ddpm, dpmpp_2m, euler");
  for (const auto& info : sampler_registry()) EXPECT_EQ(find_sampler(info.name).fn, info.fn);
  try {
    find_sampler("heun");
    FAIL();
  } catch (const vdm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown sampler 'heun'; valid samplers: ddim, v_ddim"),
              std::string::npos);
  }
}

TEST(SamplerLoop, CallbackSeesEveryStepAndMayReplaceZ) {
  AnalyticDenoiser model(GaussianMixture::gaussian(0.0, 1.0), Prediction::kV);
  const auto plan = uniform_time_plan(cosine(), 6);
  SamplerOptions options;
  std::vector<int64_t> seen;
  options.callback = [&](const StepInfo& info, torch::Tensor& z) {
    seen.push_back(info.index);
    EXPECT_EQ(info.count, 6);
    EXPECT_EQ(info.to.t, plan.targets[static_cast<size_t>(info.index)].t);
    EXPECT_EQ(info.x0.sizes(), z.sizes());
    if (info.index == 5) z = torch::zeros_like(z);
  };
  const auto x = sample_dpmpp_2m(model, torch::randn({1, 1, 1, 2, 2}), {}, plan, options);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(x.abs().max().item<double>(), 0.0);
}

TEST(SamplerLoop, StrengthStartsFromPartiallyNoisedInput) {
  // SDEdit: keep int(steps * strength) steps; the data as the "noisy" start with a point-mass
  // model (std 0) denoises back to exactly that point for every deterministic sampler.
  const auto plan = uniform_time_plan(cosine(), 20);
  const auto edit = plan.with_strength(0.3);
  ASSERT_EQ(edit.steps(), 6u);
  EXPECT_EQ(edit.levels.front().t, plan.levels[14].t);
  EXPECT_THROW(plan.with_strength(0.0), vdm::Error);
  AnalyticDenoiser model(GaussianMixture::gaussian(0.25, 0.0), Prediction::kEps);
  auto gen = cpu_generator(17);
  const auto x = torch::full({1, 1, 2, 3, 3}, 0.25, torch::kFloat64);
  const auto z = q_sample(x, draw_noise(x, gen), edit.levels.front());
  for (const std::string name : {"ddim", "v_ddim", "dpmpp_2m", "euler"}) {
    EXPECT_LT(max_abs_diff(run(name, model, z, edit, 0), x), 1e-4) << name;
  }
}

TEST(SamplerLoop, EpsModelAtZeroSnrIsAnError) {
  const auto schedule = DiscreteSchedule::from_betas(rescale_zero_terminal_snr(linear_betas(1000, 1e-4, 0.02)));
  const auto plan = uniform_time_plan(*schedule, 4);
  ASSERT_EQ(plan.levels.front().alpha, 0.0);
  AnalyticDenoiser eps_model(GaussianMixture::gaussian(0, 1), Prediction::kEps);
  AnalyticDenoiser v_model(GaussianMixture::gaussian(0, 1), Prediction::kV);
  const auto z = torch::randn({1, 1, 1, 2, 2});
  EXPECT_THROW(run("ddim", eps_model, z, plan, 0), vdm::Error);
  EXPECT_TRUE(torch::isfinite(run("ddim", v_model, z, plan, 0)).all().item<bool>());
}
