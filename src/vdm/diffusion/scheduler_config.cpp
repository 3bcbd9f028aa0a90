#include "vdm/diffusion/scheduler_config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "vdm/core/error.h"
#include "vdm/io/json.h"

namespace vdm::diffusion {

namespace {

using Json = nlohmann::ordered_json;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct ClassInfo {
  const char* name;
  SchedulerClass cls;
  const char* default_spacing;
  std::vector<std::string> fields;  // every __init__ argument of the class (diffusers v0.29)
};

const std::vector<ClassInfo>& class_table() {
  static const std::vector<std::string> common = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
      "prediction_type", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), common.begin(), common.end());
    return extra;
  };
  static const std::vector<ClassInfo> table = {
      {"DDIMScheduler", SchedulerClass::kDDIM, "leading",
       with({"clip_sample", "set_alpha_to_one", "thresholding", "dynamic_thresholding_ratio",
             "clip_sample_range", "sample_max_value"})},
      {"DDPMScheduler", SchedulerClass::kDDPM, "leading",
       with({"variance_type", "clip_sample", "thresholding", "dynamic_thresholding_ratio",
             "clip_sample_range", "sample_max_value"})},
      {"DPMSolverMultistepScheduler", SchedulerClass::kDPMSolverMultistep, "linspace",
       with({"solver_order", "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
             "algorithm_type", "solver_type", "lower_order_final", "euler_at_final",
             "use_karras_sigmas", "use_lu_lambdas", "final_sigmas_type", "lambda_min_clipped",
             "variance_type"})},
      {"EulerDiscreteScheduler", SchedulerClass::kEulerDiscrete, "linspace",
       with({"interpolation_type", "use_karras_sigmas", "sigma_min", "sigma_max",
             "timestep_type", "final_sigmas_type"})},
  };
  return table;
}

// Python's json writes float('inf') as the non-JSON tokens Infinity / -Infinity / NaN (a saved
// DPMSolverMultistepScheduler config has "lambda_min_clipped": -Infinity). Quote them so the
// parser accepts the file; number fields accept the quoted forms back.
std::string quote_nonfinite_tokens(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const size_t len = std::char_traits<char>::length(token);
      if (text.compare(i, len, token) == 0) {
        out += '"';
        out += token;
        out += '"';
        i += len - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

class FieldReader {
 public:
  FieldReader(const Json& json, const std::string& source, const std::string& class_name)
      : json_(json), source_(source), class_name_(class_name) {}

  bool has(const char* key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  [[noreturn]] void fail(const char* key, const std::string& expected) const {
    throw Error(fmt::format("{}: {} field '{}' = {}: {}", source_, class_name_, key,
                            json_.at(key).dump(), expected));
  }

  void read(const char* key, bool& out) const {
    if (!has(key)) return;
    if (!json_.at(key).is_boolean()) fail(key, "expected true or false");
    out = json_.at(key).get<bool>();
  }
  void read(const char* key, int& out) const {
    if (!has(key)) return;
    const auto& v = json_.at(key);
    if (!v.is_number()) fail(key, "expected an integer");
    try {
      out = io::detail::json_as<int>(v);
    } catch (const std::out_of_range&) {
      fail(key, "expected an integer that fits in 32 bits");
    }
  }
  void read(const char* key, double& out) const {
    if (!has(key)) return;
    const auto& v = json_.at(key);
    if (v.is_number()) {
      out = v.get<double>();
    } else if (v.is_string() && v.get<std::string>() == "-Infinity") {
      out = -kInf;
    } else if (v.is_string() && v.get<std::string>() == "Infinity") {
      out = kInf;
    } else {
      fail(key, "expected a number");
    }
  }
  void read(const char* key, std::string& out) const {
    if (!has(key)) return;
    if (!json_.at(key).is_string()) fail(key, "expected a string");
    out = json_.at(key).get<std::string>();
  }
  void read(const char* key, std::optional<std::vector<double>>& out) const {
    if (!has(key)) return;
    const auto& v = json_.at(key);
    if (!v.is_array() || v.empty()) fail(key, "expected a non-empty list of numbers or null");
    std::vector<double> values;
    for (const auto& item : v) {
      if (!item.is_number()) fail(key, "expected a list of numbers");
      values.push_back(item.get<double>());
    }
    out = std::move(values);
  }
  // A string field that must be one of `allowed` (the values vdm implements).
  void read_choice(const char* key, std::string& out, const std::vector<std::string>& allowed,
                   const std::string& note = {}) const {
    read(key, out);
    if (std::find(allowed.begin(), allowed.end(), out) != allowed.end()) return;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    throw Error(fmt::format("{}: {} field '{}' = \"{}\" is not supported; supported: {}{}",
                            source_, class_name_, key, out, list, note));
  }
  // A field vdm supports only at one value.
  void require_value(const char* key, bool supported, const std::string& what) const {
    if (!has(key)) return;
    const auto& v = json_.at(key);
    if (v.is_boolean() && v.get<bool>() == supported) return;
    if (!v.is_boolean()) fail(key, "expected true or false");
    throw Error(fmt::format("{}: {} field '{}' = {} is not supported by vdm ({}); set it to {}",
                            source_, class_name_, key, v.dump(), what, supported));
  }

 private:
  const Json& json_;
  const std::string& source_;
  const std::string& class_name_;
};

// ---- numpy semantics for the timestep formulas -------------------------------------------

// np.linspace(start, stop, num): start + i * step, the last exactly stop.
std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> out(static_cast<size_t>(num));
  if (num == 1) {
    out[0] = start;
    return out;
  }
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) out[static_cast<size_t>(i)] = start + i * step;
  out.back() = stop;
  return out;
}

// np.arange(start, stop, step): ceil((stop - start) / step) values start + i * step.
std::vector<double> np_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> out;
  for (int64_t i = 0; i < static_cast<int64_t>(len); ++i) out.push_back(start + i * step);
  return out;
}

// np.round: half to even (the default floating-point rounding mode).
double np_round(double x) { return std::nearbyint(x); }

std::vector<double> reversed(std::vector<double> v) {
  std::reverse(v.begin(), v.end());
  return v;
}

}  // namespace

std::string supported_scheduler_classes() {
  std::string out;
  for (const auto& info : class_table()) out += (out.empty() ? "" : ", ") + std::string(info.name);
  return out;
}

SchedulerConfig parse_scheduler_config(const Json& json, const std::string& source,
                                       const std::optional<std::string>& class_override) {
  VDM_CHECK(json.is_object(), "{}: a scheduler config must be a JSON object", source);
  std::string class_name;
  if (class_override) {
    class_name = *class_override;
  } else {
    VDM_CHECK(json.contains("_class_name") && json.at("_class_name").is_string(),
              "{}: no \"_class_name\"; expected one of {}", source, supported_scheduler_classes());
    class_name = json.at("_class_name").get<std::string>();
  }
  const ClassInfo* info = nullptr;
  for (const auto& candidate : class_table()) {
    if (class_name == candidate.name) info = &candidate;
  }
  VDM_CHECK(info != nullptr, "{}: scheduler class '{}' is not supported; supported: {}", source,
            class_name, supported_scheduler_classes());

  SchedulerConfig c;
  c.scheduler_class = info->cls;
  c.class_name = info->name;
  c.source = source;
  c.timestep_spacing = info->default_spacing;
  if (info->cls == SchedulerClass::kDPMSolverMultistep) c.variance_type.clear();  // None

  const std::set<std::string> fields(info->fields.begin(), info->fields.end());
  for (const auto& [key, value] : json.items()) {
    if (key.rfind('_', 0) != 0 && fields.count(key) == 0) c.ignored_fields.push_back(key);
  }
  const FieldReader r(json, source, c.class_name);
  const bool is_ddim = info->cls == SchedulerClass::kDDIM;
  const bool is_ddpm = info->cls == SchedulerClass::kDDPM;
  const bool is_dpm = info->cls == SchedulerClass::kDPMSolverMultistep;
  const bool is_euler = info->cls == SchedulerClass::kEulerDiscrete;

  r.read("num_train_timesteps", c.num_train_timesteps);
  VDM_CHECK(c.num_train_timesteps >= 2 && c.num_train_timesteps <= 100000,
            "{}: num_train_timesteps = {} must be in [2, 100000]", source, c.num_train_timesteps);
  r.read("beta_start", c.beta_start);
  r.read("beta_end", c.beta_end);
  r.read("trained_betas", c.trained_betas);
  if (c.trained_betas) {
    VDM_CHECK(static_cast<int>(c.trained_betas->size()) == c.num_train_timesteps,
              "{}: trained_betas has {} values but num_train_timesteps = {}", source,
              c.trained_betas->size(), c.num_train_timesteps);
  } else {
    std::vector<std::string> schedules = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    if (is_ddpm) schedules.push_back("sigmoid");
    r.read_choice("beta_schedule", c.beta_schedule, schedules);
  }
  std::vector<std::string> predictions = {"epsilon", "sample", "v_prediction"};
  if (is_euler) predictions.push_back("original_sample");
  r.read_choice("prediction_type", c.prediction_type, predictions);
  if (c.prediction_type == "original_sample") c.prediction_type = "sample";
  r.read_choice("timestep_spacing", c.timestep_spacing, {"leading", "trailing", "linspace"});
  r.read("steps_offset", c.steps_offset);
  VDM_CHECK(c.steps_offset >= 0, "{}: steps_offset = {} must be >= 0", source, c.steps_offset);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);

  if (is_ddim || is_ddpm) {
    r.read("clip_sample", c.clip_sample);
    r.read("clip_sample_range", c.clip_sample_range);
    if (c.clip_sample) {
      VDM_CHECK(c.clip_sample_range > 0, "{}: clip_sample_range = {} must be > 0", source,
                c.clip_sample_range);
    }
  }
  if (is_ddim) r.read("set_alpha_to_one", c.set_alpha_to_one);
  if (is_ddim || is_ddpm || is_dpm) {
    r.read("thresholding", c.thresholding);
    r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
    r.read("sample_max_value", c.sample_max_value);
    if (c.thresholding) {
      VDM_CHECK(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1,
                "{}: dynamic_thresholding_ratio = {} must be in (0, 1]", source,
                c.dynamic_thresholding_ratio);
      VDM_CHECK(c.sample_max_value >= 1, "{}: sample_max_value = {} must be >= 1", source,
                c.sample_max_value);
    }
  }
  if (is_ddpm) {
    r.read_choice("variance_type", c.variance_type,
                  {"fixed_small", "fixed_small_log", "fixed_large"},
                  " (learned variances need a model that outputs them)");
  }
  if (is_dpm) {
    r.read("solver_order", c.solver_order);
    VDM_CHECK(c.solver_order == 1 || c.solver_order == 2,
              "{}: {} field 'solver_order' = {} is not supported; supported: 1, 2", source,
              c.class_name, c.solver_order);
    r.read("algorithm_type", c.algorithm_type);
    if (c.algorithm_type == "deis") c.algorithm_type = "dpmsolver++";  // as diffusers maps it
    r.read_choice("algorithm_type", c.algorithm_type, {"dpmsolver++", "deis"});
    c.algorithm_type = "dpmsolver++";
    r.read("solver_type", c.solver_type);
    if (c.solver_type == "logrho" || c.solver_type == "bh1" || c.solver_type == "bh2") {
      c.solver_type = "midpoint";  // diffusers registers these as midpoint
    } else {
      r.read_choice("solver_type", c.solver_type, {"midpoint", "logrho", "bh1", "bh2"});
    }
    r.read("lower_order_final", c.lower_order_final);
    r.read("euler_at_final", c.euler_at_final);
    r.require_value("use_karras_sigmas", false, "Karras sigmas are not implemented");
    r.require_value("use_lu_lambdas", false, "Lu lambdas are not implemented");
    r.read("lambda_min_clipped", c.lambda_min_clipped);
    if (r.has("variance_type")) {
      std::string v;
      r.read("variance_type", v);
      throw Error(fmt::format(
          "{}: {} field 'variance_type' = \"{}\" is not supported; supported: null", source,
          c.class_name, v));
    }
  }
  if (is_dpm || is_euler) {
    r.read_choice("final_sigmas_type", c.final_sigmas_type, {"zero", "sigma_min"});
  }
  if (is_euler) {
    r.read_choice("interpolation_type", c.interpolation_type, {"linear"});
    r.require_value("use_karras_sigmas", false, "Karras sigmas are not implemented");
    r.read_choice("timestep_type", c.timestep_type, {"discrete", "continuous"});
    double unused = 0;  // sigma_min / sigma_max only shape Karras sigmas, which are off
    r.read("sigma_min", unused);
    r.read("sigma_max", unused);
  }
  return c;
}

SchedulerConfig load_scheduler_config(const std::string& path,
                                      const std::optional<std::string>& class_override) {
  const auto text = io::read_text_file(path, io::kMaxJsonFileBytes);
  const auto json = io::parse_json(quote_nonfinite_tokens(text), path);
  return parse_scheduler_config(json, path, class_override);
}

std::vector<double> config_betas(const SchedulerConfig& c) {
  std::vector<double> betas;
  const int n = c.num_train_timesteps;
  if (c.trained_betas) {
    betas = *c.trained_betas;
  } else if (c.beta_schedule == "linear") {
    betas = linear_betas(n, c.beta_start, c.beta_end);
  } else if (c.beta_schedule == "scaled_linear") {
    betas = scaled_linear_betas(n, c.beta_start, c.beta_end);
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    betas = squaredcos_cap_v2_betas(n);
  } else if (c.beta_schedule == "sigmoid") {
    betas = sigmoid_betas(n, c.beta_start, c.beta_end);
  } else {
    throw Error(fmt::format("{}: beta_schedule '{}' is not supported", c.source, c.beta_schedule));
  }
  if (c.rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  return betas;
}

std::shared_ptr<DiscreteSchedule> make_schedule(const SchedulerConfig& c) {
  return DiscreteSchedule::from_betas(config_betas(c), c.class_name);
}

std::vector<double> config_timesteps(const SchedulerConfig& c, int steps) {
  const int n_train = c.num_train_timesteps;
  VDM_CHECK(steps >= 1 && steps <= n_train, "steps = {} must be in [1, num_train_timesteps = {}]",
            steps, n_train);
  const std::string& spacing = c.timestep_spacing;
  std::vector<double> ts;
  if (c.scheduler_class == SchedulerClass::kDDIM || c.scheduler_class == SchedulerClass::kDDPM) {
    if (spacing == "linspace") {
      ts = reversed(np_linspace(0, n_train - 1, steps));
      for (double& t : ts) t = np_round(t);
    } else if (spacing == "leading") {
      const int ratio = n_train / steps;
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<double>(i * ratio + c.steps_offset));
    } else {
      ts = np_arange(n_train, 0, -static_cast<double>(n_train) / steps);
      for (double& t : ts) t = np_round(t) - 1;
    }
  } else if (c.scheduler_class == SchedulerClass::kDPMSolverMultistep) {
    // lambda_min_clipped: drop the noisiest timesteps whose half-log-SNR is below it.
    const auto betas = config_betas(c);
    auto abar = alphas_cumprod_of(betas);
    if (c.rescale_betas_zero_snr) abar.back() = std::pow(2.0, -24);
    int clipped = 0;
    for (double a : abar) {
      const float half_lambda = static_cast<float>(0.5 * lambda_of_alpha2(a));
      if (half_lambda < c.lambda_min_clipped) ++clipped;
    }
    const int last = n_train - clipped;
    VDM_CHECK(last >= 1, "{}: lambda_min_clipped = {} clips every timestep", c.source,
              c.lambda_min_clipped);
    if (spacing == "linspace") {
      auto all = reversed(np_linspace(0, last - 1, steps + 1));
      all.pop_back();
      for (double& t : all) t = np_round(t);
      ts = all;
    } else if (spacing == "leading") {
      const int ratio = last / (steps + 1);
      for (int i = steps; i >= 1; --i) ts.push_back(static_cast<double>(i * ratio + c.steps_offset));
    } else {
      ts = np_arange(last, 0, -static_cast<double>(n_train) / steps);
      for (double& t : ts) t = np_round(t) - 1;
    }
  } else {  // Euler: float32 timesteps
    if (spacing == "linspace") {
      ts = reversed(np_linspace(0, n_train - 1, steps));
    } else if (spacing == "leading") {
      const int ratio = n_train / steps;
      for (int i = steps - 1; i >= 0; --i) ts.push_back(static_cast<double>(i * ratio + c.steps_offset));
    } else {
      ts = np_arange(n_train, 0, -static_cast<double>(n_train) / steps);
      for (double& t : ts) t = np_round(t) - 1;
    }
    for (double& t : ts) t = static_cast<float>(t);
  }
  for (double t : ts) {
    VDM_CHECK(t >= 0 && t <= n_train - 1,
              "{}: timestep {} (from {} spacing, steps_offset {}, {} steps) is outside [0, {}]",
              c.source, t, spacing, c.steps_offset, steps, n_train - 1);
  }
  return ts;
}

SamplingPlan make_plan(const SchedulerConfig& c, int steps) {
  const auto schedule = make_schedule(c);
  const auto timesteps = config_timesteps(c, steps);
  const int n_train = c.num_train_timesteps;
  auto abar = schedule->alphas_cumprod();
  const bool sigma_based = c.scheduler_class == SchedulerClass::kDPMSolverMultistep ||
                           c.scheduler_class == SchedulerClass::kEulerDiscrete;
  // DPM-Solver and Euler replace a zero terminal alphas_cumprod by 2^-24 so sigma stays finite.
  if (sigma_based && c.rescale_betas_zero_snr) abar.back() = std::pow(2.0, -24);

  auto level_of_abar = [&](double a, double timestep) {
    return NoiseLevel::from_alpha_sigma(*schedule, std::sqrt(a), std::sqrt(1.0 - a), timestep);
  };
  // sigma in diffusers' sigma / alpha units (float32, as set_timesteps stores it).
  auto level_of_sigma_ve = [&](double sigma_ve, double timestep) {
    const double s = static_cast<float>(sigma_ve);
    const double alpha = 1.0 / std::sqrt(s * s + 1.0);
    return NoiseLevel::from_alpha_sigma(*schedule, alpha, s * alpha, timestep);
  };
  auto sigma_ve_of = [&](size_t k) { return std::sqrt((1.0 - abar[k]) / abar[k]); };

  SamplingPlan plan;
  plan.description = fmt::format("{} ({} spacing, {} steps)", c.class_name, c.timestep_spacing,
                                 steps);
  if (!sigma_based) {
    // DDIM / DDPM: step from timestep k to prev = k - N // steps (alpha = 1 or abar[0] below 0).
    const int stride = n_train / steps;
    const NoiseLevel final = (c.scheduler_class == SchedulerClass::kDDIM && !c.set_alpha_to_one)
                                 ? level_of_abar(abar[0], 0)
                                 : NoiseLevel::clean(-1);
    for (double k : timesteps) {
      plan.levels.push_back(level_of_abar(abar[static_cast<size_t>(k)], k));
      const int prev = static_cast<int>(k) - stride;
      plan.targets.push_back(prev >= 0 ? level_of_abar(abar[static_cast<size_t>(prev)], prev)
                                       : final);
    }
  } else {
    std::vector<double> sigmas;
    for (double k : timesteps) {
      // np.interp over integer grid points (exact at integers).
      const size_t lo = static_cast<size_t>(std::floor(k));
      const size_t hi = std::min(lo + 1, abar.size() - 1);
      const double w = k - static_cast<double>(lo);
      sigmas.push_back(w == 0 ? sigma_ve_of(lo)
                              : sigma_ve_of(lo) + w * (sigma_ve_of(hi) - sigma_ve_of(lo)));
    }
    const bool continuous_time = c.scheduler_class == SchedulerClass::kEulerDiscrete &&
                                 c.timestep_type == "continuous" &&
                                 c.prediction_type == "v_prediction";
    for (size_t i = 0; i < timesteps.size(); ++i) {
      const double model_time =
          continuous_time ? static_cast<float>(0.25 * std::log(static_cast<float>(sigmas[i])))
                          : timesteps[i];
      plan.levels.push_back(level_of_sigma_ve(sigmas[i], model_time));
    }
    const NoiseLevel final = c.final_sigmas_type == "sigma_min"
                                 ? level_of_sigma_ve(sigma_ve_of(0), 0)
                                 : NoiseLevel::clean(0);
    for (size_t i = 0; i + 1 < plan.levels.size(); ++i) plan.targets.push_back(plan.levels[i + 1]);
    plan.targets.push_back(final);
    if (c.scheduler_class == SchedulerClass::kEulerDiscrete) {
      // init_noise_sigma: max sigma (linspace, trailing) or sqrt(max^2 + 1) (leading), in
      // sigma / alpha units; the VP latent is that times alpha of the first level.
      double max_sigma = 0;
      for (const auto& level : plan.levels) max_sigma = std::max(max_sigma, level.sigma_ve());
      const double init = (c.timestep_spacing == "leading")
                              ? std::sqrt(max_sigma * max_sigma + 1.0)
                              : max_sigma;
      plan.init_noise_scale = init * plan.levels.front().alpha;
    }
  }
  plan.validate();
  return plan;
}

std::string default_sampler(const SchedulerConfig& c) {
  switch (c.scheduler_class) {
    case SchedulerClass::kDDIM: return "ddim";
    case SchedulerClass::kDDPM: return "ddpm";
    // First-order DPM-Solver++ is exactly deterministic DDIM.
    case SchedulerClass::kDPMSolverMultistep: return c.solver_order == 1 ? "ddim" : "dpmpp_2m";
    case SchedulerClass::kEulerDiscrete: return "euler";
  }
  return "ddim";
}

void apply_sampler_settings(const SchedulerConfig& c, SamplerOptions& options) {
  const bool reads_clip = c.scheduler_class == SchedulerClass::kDDIM ||
                          c.scheduler_class == SchedulerClass::kDDPM;
  const bool reads_threshold = reads_clip || c.scheduler_class == SchedulerClass::kDPMSolverMultistep;
  if (reads_threshold && c.thresholding) {
    options.x0_transform = dynamic_threshold_x0(c.dynamic_thresholding_ratio, c.sample_max_value);
  } else if (reads_clip && c.clip_sample) {
    options.x0_transform = clip_x0(c.clip_sample_range);
  } else {
    options.x0_transform = nullptr;
  }
  if (c.scheduler_class == SchedulerClass::kDDPM) {
    options.ddpm_variance =
        c.variance_type == "fixed_large" ? DdpmVariance::kForward : DdpmVariance::kPosterior;
  }
  if (c.scheduler_class == SchedulerClass::kDPMSolverMultistep) {
    options.lower_order_final = c.lower_order_final;
    options.euler_at_final = c.euler_at_final;
  }
}

}  // namespace vdm::diffusion
