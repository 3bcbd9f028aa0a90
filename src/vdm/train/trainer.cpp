#include "vdm/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "vdm/core/error.h"
#include "vdm/diffusion/loss.h"
#include "vdm/io/atomic_file.h"
#include "vdm/train/autocast.h"
#include "vdm/train/loss_plot.h"

namespace vdm::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelConfigKey = "vdm.text_to_video";
constexpr const char* kTrainConfigKey = "vdm.train_config";
constexpr const char* kStateKey = "vdm.train_state";

// Train fields that may differ on resume: they change nothing about the optimisation itself.
const std::vector<std::string>& bookkeeping_fields() {
  // precision and gradient_checkpointing change how a step is computed, not what it
  // computes: a run may move between a CPU and a GPU, or from f32 to bf16. init only picks
  // the first weights, which a checkpoint replaces (and runs from before it lack the field).
  static const std::vector<std::string> fields = {"steps",      "checkpoint_every", "keep_checkpoints",
                                                  "log_every",  "plot_every",       "precision",
                                                  "gradient_checkpointing", "init",
                                                  "init_drop"};
  return fields;
}

// "a.b: x vs y" for every leaf that differs.
void json_differences(const io::Json& a, const io::Json& b, const std::string& path, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const std::string p = path.empty() ? key : path + "." + key;
      if (!b.contains(key)) {
        out.push_back(p + ": only in the checkpoint");
      } else {
        json_differences(value, b.at(key), p, out);
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key)) out.push_back((path.empty() ? key : path + "." + key) + ": only in this run's config");
    }
  } else if (a != b) {
    out.push_back(fmt::format("{}: checkpoint {} vs {}", path, a.dump(), b.dump()));
  }
}

io::TensorFile strip_prefix(const io::TensorFile& file, const std::string& prefix) {
  io::TensorFile out;
  for (const auto& [name, t] : file.tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.tensors.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

std::string metadata_at(const io::TensorFile& file, const std::string& key, const std::string& path) {
  const auto it = file.metadata.find(key);
  VDM_CHECK(it != file.metadata.end(), "{}: no \"{}\" in the metadata: not a training checkpoint written by vdm train",
            path, key);
  return it->second;
}

}  // namespace

Trainer::Trainer(RunConfig config, std::shared_ptr<const data::VideoDataset> data, TrainerOptions options)
    : config_(std::move(config)),
      data_(std::move(data)),
      options_(std::move(options)),
      generator_(torch::make_generator<at::CPUGeneratorImpl>(config_.train.seed)) {
  config_.model.validate();
  config_.train.validate();
  VDM_CHECK(data_ != nullptr, "trainer: no data set");
  const auto shape = data_->clip_shape();
  VDM_CHECK(shape[0] == config_.model.frames && shape[1] == config_.model.height && shape[2] == config_.model.width,
            "trainer: the data gives {}x{}x{} clips (frames x height x width), the model config says {}x{}x{}",
            shape[0], shape[1], shape[2], config_.model.frames, config_.model.height, config_.model.width);

  // Initial weights from LibTorch's default initialisers, which draw from the global generator.
  torch::manual_seed(config_.train.seed);
  model_ = make_text_video_model(config_.model);
  if (!config_.train.init.empty()) initialise_from(config_.train.init);
  model_.to(options_.device);
  model_.train(true);
  params_ = model_.named_parameters();

  // Weight decay on matrices and embeddings; none on biases and norm gains (dim < 2), whose
  // decay only fights the normalisation.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params_) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  // Optimizer order is group order; keep params_ in the same order for checkpoints.
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (const auto& np : params_) if (np.second.dim() >= 2) ordered.push_back(np);
  for (const auto& np : params_) if (np.second.dim() < 2) ordered.push_back(np);
  params_ = std::move(ordered);
  const auto& t = config_.train;
  auto adam = torch::optim::AdamWOptions(t.lr).betas({t.beta1, t.beta2}).eps(t.adam_eps).weight_decay(t.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(adam));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(adam).weight_decay(0.0)));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), adam);

  std::vector<std::string> trained;
  for (const auto& [name, p] : params_) trained.push_back(name);
  ema_ = std::make_unique<Ema>(model_.state(), trained, t.ema_decay);

  schedule_ = model_.schedule();
  denoiser_ = std::make_unique<models::UNet3DDenoiser>(model_.unet);
  denoiser_->forward_options.gradient_checkpointing = t.gradient_checkpointing;
  lr_ = LrSchedule{t.lr, t.warmup_steps, t.steps, t.final_lr_fraction};
  state_.data = options_.data_spec;

  if (!options_.run_dir.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(options_.run_dir) / "checkpoints", ec);
    VDM_CHECK(!ec, "trainer: cannot create the run folder {}: {}", options_.run_dir, ec.message());
    if (const auto removed = remove_partial_writes(options_.run_dir)) {
      spdlog::info("{}: removed {} partial file(s) left by an interrupted write", options_.run_dir, removed);
    }
    io::write_file_atomic((fs::path(options_.run_dir) / "config.json").string(), config_.to_json().dump(2) + "\n");
  }
}

StepResult Trainer::step() {
  const auto start = std::chrono::steady_clock::now();
  const auto& t = config_.train;
  StepResult r;
  r.lr = lr_.at(state_.step);
  r.clips = t.batch_size;

  // 1. Data.
  const auto indices = data::training_indices(data_->size(), t.seed, state_.data_position, t.batch_size);
  const auto batch = data_->batch(indices);
  const auto x = batch.frames.to(options_.device);                                       // [B, 3, F, H, W]
  const auto ids = model_.text_encoder->tokenizer().encode_batch(batch.captions);       // [B, L]
  r.data_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // 2.-3. Caption dropout and the diffusion loss (all draws from generator_, in this order).
  const auto drop = torch::rand({t.batch_size}, generator_, torch::dtype(torch::kFloat64)).lt(t.caption_dropout);
  diffusion::LossOptions loss_options;
  loss_options.weighting = diffusion::parse_loss_weighting(config_.model.diffusion.loss_weighting);
  loss_options.min_snr_gamma = config_.model.diffusion.min_snr_gamma;
  loss_options.t_bias = {t.t_bias_fraction, t.t_bias_begin, t.t_bias_end};
  optimizer_->zero_grad();
  torch::Tensor loss;
  {
    AutocastGuard autocast(options_.device.type(), t.precision == "bf16" ? torch::kBFloat16 : torch::kFloat32);
    diffusion::Conditioning cond;
    cond.tensors["encoder_hidden_states"] = model_.text_encoder->forward_with_dropout(ids, drop);  // [B, L, D]
    loss = diffusion::diffusion_loss(*denoiser_, *schedule_, x, cond, generator_, loss_options).loss;
  }
  loss = loss.to(torch::kFloat32);
  const auto fault = options_.inject_fault ? options_.inject_fault(state_.step + 1) : Fault::kNone;
  if (fault == Fault::kLoss) loss = loss * std::numeric_limits<float>::quiet_NaN();
  r.loss = loss.item<double>();

  // 4. Update, unless something is not finite.
  if (!std::isfinite(r.loss)) {
    r.skipped = true;
  } else {
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (auto& [name, p] : params_) {
      // A parameter outside this step's graph (the null embedding when no caption was
      // dropped) gets a zero gradient rather than none, so AdamW treats every parameter the
      // same on every step, whatever happened on the steps before (exact resume).
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p);
    }
    if (fault == Fault::kGradient) {
      torch::NoGradGuard no_grad;
      params_.front().second.mutable_grad().view(-1)[0] = std::numeric_limits<float>::infinity();
    }
    const double max_norm = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<double>::infinity();
    r.grad_norm = torch::nn::utils::clip_grad_norm_(grads, max_norm);
    if (!std::isfinite(r.grad_norm)) {
      r.skipped = true;
    } else {
      for (auto& group : optimizer_->param_groups()) group.options().set_lr(r.lr);
      optimizer_->step();
      ema_->update(model_.state());
    }
  }
  optimizer_->zero_grad();
  if (r.skipped) {
    ++state_.skipped_steps;
    ++state_.skipped_in_a_row;
    spdlog::warn("step {}: non-finite {} ({}); update skipped ({} skipped so far)", state_.step + 1,
                 std::isfinite(r.loss) ? "gradient norm" : "loss", std::isfinite(r.loss) ? r.grad_norm : r.loss,
                 state_.skipped_steps);
  } else {
    state_.skipped_in_a_row = 0;
  }
  ++state_.step;
  state_.data_position += t.batch_size;
  state_.ema_updates = ema_->updates();
  r.step = state_.step;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  elapsed_s_ += r.seconds;
  return r;
}

void Trainer::initialise_from(const std::string& path) {
  const auto source = load_text_video_model(path);  // a checkpoint's EMA weights
  std::map<std::string, torch::Tensor> target;
  for (auto& [name, t] : model_.state()) target.emplace(name, t);
  std::vector<std::string> problems, dropped;
  std::vector<bool> drop_used(config_.train.init_drop.size(), false);
  for (const auto& [name, t] : source.state()) {
    bool drop = false;
    for (size_t k = 0; k < config_.train.init_drop.size(); ++k) {
      if (name.find(config_.train.init_drop[k]) != std::string::npos) drop = drop_used[k] = true;
    }
    const auto it = target.find(name);
    if (drop) {
      dropped.push_back(name);
    } else if (it == target.end()) {
      problems.push_back(fmt::format("{} is not in the model", name));
    } else if (it->second.sizes() != t.sizes()) {
      problems.push_back(fmt::format("{} has shape [{}], the model's is [{}]", name, fmt::join(t.sizes(), ", "),
                                     fmt::join(it->second.sizes(), ", ")));
    } else {
      torch::NoGradGuard no_grad;
      it->second.copy_(t);
      target.erase(it);
    }
  }
  for (size_t k = 0; k < drop_used.size(); ++k) {
    if (!drop_used[k]) problems.push_back(fmt::format("train.init_drop '{}' matches none of its tensors", config_.train.init_drop[k]));
  }
  VDM_CHECK(problems.empty(), "train.init {}: its weights do not fit the model of this config: {}", path,
            fmt::join(problems, "; "));
  std::vector<std::string> fresh;
  for (const auto& [name, t] : target) fresh.push_back(name);
  spdlog::info("weights from {}{}{}", path,
               fresh.empty() ? std::string() : fmt::format("; fresh: {}", fmt::join(fresh, ", ")),
               dropped.empty() ? std::string() : fmt::format("; left out: {}", fmt::join(dropped, ", ")));
}

void Trainer::plot_loss(const std::string& path) const {
  try {
    write_loss_plot(path, history_);
  } catch (const std::exception& e) {
    spdlog::warn("could not draw the loss curve ({}); training goes on", e.what());
  }
}

void Trainer::append_log(const StepResult& r) {
  history_.emplace_back(r.step, r.loss);
  if (options_.run_dir.empty()) return;
  io::Json j;
  j["step"] = r.step;
  j["loss"] = std::isfinite(r.loss) ? io::Json(r.loss) : io::Json(nullptr);
  j["lr"] = r.lr;
  j["grad_norm"] = std::isfinite(r.grad_norm) ? io::Json(r.grad_norm) : io::Json(nullptr);
  j["skipped"] = r.skipped;
  j["step_s"] = r.seconds;
  j["data_s"] = r.data_seconds;
  j["clips_per_s"] = r.seconds > 0 ? static_cast<double>(r.clips) / r.seconds : 0.0;
  j["data_position"] = state_.data_position;
  std::ofstream out(fs::path(options_.run_dir) / "train.jsonl", std::ios::app);
  out << j.dump() << "\n";
  VDM_CHECK(out.good(), "trainer: cannot append to {}/train.jsonl", options_.run_dir);
}

void Trainer::truncate_log_after(int64_t step) {
  history_.clear();
  if (options_.run_dir.empty()) return;
  const auto path = fs::path(options_.run_dir) / "train.jsonl";
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  // Lines logged after the checkpoint are redone (bit-identically) by the resumed run.
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    io::Json j;
    try {
      j = io::parse_json(line, path.string());
    } catch (const Error&) {
      continue;  // a line torn by the interruption
    }
    if (!j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() > step) continue;
    kept += line + "\n";
    if (j.contains("loss") && j["loss"].is_number()) history_.emplace_back(j["step"].get<int64_t>(), j["loss"].get<double>());
  }
  io::write_file_atomic(path.string(), kept);
}

void Trainer::run(int64_t until, const std::function<void(const StepResult&)>& on_step,
                  const std::function<bool()>& stop) {
  const auto& t = config_.train;
  const bool write = !options_.run_dir.empty();
  const auto plot_path = (fs::path(options_.run_dir) / "loss.png").string();
  int64_t last_checkpoint = state_.step;
  while (state_.step < until) {
    if (stop && stop()) break;
    const auto r = step();
    if (r.step % t.log_every == 0 || r.skipped) append_log(r);
    if (on_step) on_step(r);
    if (write && r.step % t.checkpoint_every == 0) {
      save_checkpoint();
      last_checkpoint = r.step;
    }
    if (write && r.step % t.plot_every == 0) plot_loss(plot_path);
    if (t.max_skipped_in_a_row > 0 && state_.skipped_in_a_row >= t.max_skipped_in_a_row) {
      // Skipped steps leave the weights as they were, so they are finite: keep the progress.
      if (write && last_checkpoint != state_.step) save_checkpoint();
      throw Error(fmt::format(
          "training stopped at step {}: the last {} steps had a non-finite loss or gradient, so the weights "
          "stopped changing (train.max_skipped_in_a_row = {}). The weights are still finite and checkpointed; "
          "lower train.lr, set train.grad_clip, or train in f32, then resume",
          state_.step, state_.skipped_in_a_row, t.max_skipped_in_a_row));
    }
  }
  if (!write) return;
  if (last_checkpoint != state_.step) save_checkpoint();
  plot_loss(plot_path);
  export_model((fs::path(options_.run_dir) / "model.safetensors").string());
}

io::TensorList Trainer::state_tensors() const {
  io::TensorList tensors;
  for (const auto& [name, tensor] : model_.state()) tensors.emplace_back("model." + name, tensor.detach().cpu());
  for (const auto& [name, tensor] : ema_->averages()) tensors.emplace_back("ema." + name, tensor.cpu());
  for (const auto& [name, tensor] : optimizer_state(*optimizer_, params_)) tensors.emplace_back(name, tensor.cpu());
  tensors.emplace_back("rng.train", generator_.get_state());
  tensors.emplace_back("rng.torch_default", at::detail::getDefaultCPUGenerator().get_state());
  return tensors;
}

std::string Trainer::save_checkpoint(const std::string& path_in) {
  const bool in_run = path_in.empty();
  VDM_CHECK(!in_run || !options_.run_dir.empty(), "trainer: save_checkpoint needs a path or a run folder");
  const std::string path = in_run ? checkpoint_path(options_.run_dir, state_.step) : path_in;
  const auto tensors = state_tensors();
  // Never write a checkpoint that cannot be trained on or sampled from: the previous one stays.
  std::vector<std::string> bad;
  for (const auto& [name, tensor] : tensors) {
    if (tensor.is_floating_point() && !torch::isfinite(tensor).all().item<bool>()) bad.push_back(name);
  }
  VDM_CHECK(bad.empty(), "trainer: refusing to write checkpoint {} at step {}: non-finite values in {}", path,
            state_.step, fmt::join(bad, ", "));
  io::Metadata meta;
  meta["format"] = "pt";
  meta[kModelConfigKey] = config_.model.to_json().dump();
  meta[kTrainConfigKey] = config_.train.to_json().dump();
  meta[kStateKey] = state_.to_json().dump();
  io::save_safetensors(path, tensors, meta);
  if (in_run) prune_checkpoints(options_.run_dir, config_.train.keep_checkpoints);
  return path;
}

void Trainer::resume(const std::string& path) {
  const auto file = io::load_safetensors(path);
  // The configs must describe the same optimisation.
  std::vector<std::string> diffs;
  json_differences(io::parse_json(metadata_at(file, kModelConfigKey, path), path), config_.model.to_json(), "model",
                   diffs);
  // Read through TrainConfig so that fields added since the checkpoint was written compare as
  // their defaults (which reproduce the run that wrote it).
  auto saved_train = TrainConfig::from_json(io::parse_json(metadata_at(file, kTrainConfigKey, path), path)).to_json();
  auto this_train = config_.train.to_json();
  for (const auto& field : bookkeeping_fields()) saved_train.erase(field), this_train.erase(field);
  json_differences(saved_train, this_train, "train", diffs);
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += "\n  " + d;
    throw Error(fmt::format("{}: the checkpoint was trained with another config ({} differences):{}", path,
                            diffs.size(), list));
  }
  const auto state = TrainState::from_json(io::parse_json(metadata_at(file, kStateKey, path), path));
  if (state.data != options_.data_spec) {
    spdlog::warn("{}: the checkpoint trained on {}, this run reads {}", path, state.data, options_.data_spec);
  }

  model_.load_state(strip_prefix(file, "model."), path + " [model]");
  ema_->load(strip_prefix(file, "ema."), state.ema_updates, path + " [ema]");
  load_optimizer_state(*optimizer_, params_, file, path);
  VDM_CHECK(file.contains("rng.train") && file.contains("rng.torch_default"), "{}: no generator state (rng.*)", path);
  generator_.set_state(file.at("rng.train").contiguous().clone());
  auto global = at::detail::getDefaultCPUGenerator();
  global.set_state(file.at("rng.torch_default").contiguous().clone());
  state_ = state;
  state_.data = options_.data_spec;
  truncate_log_after(state_.step);
}

void Trainer::export_model(const std::string& path) const {
  // Building a model draws initial weights from the global generator; put its state back so
  // an export never changes what the run draws next.
  auto global = at::detail::getDefaultCPUGenerator();
  const auto global_state = global.get_state();
  TextVideoModel ema_model = make_text_video_model(config_.model);
  global.set_state(global_state);
  io::TensorFile file;
  file.tensors = ema_->averages();
  ema_model.load_state(file, "ema");
  save_text_video_model(path, ema_model,
                        {{"vdm.trained_steps", std::to_string(state_.step)}, {"vdm.data", options_.data_spec}});
}

}  // namespace vdm::train
