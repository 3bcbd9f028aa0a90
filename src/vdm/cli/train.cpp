// vdm train: train the text-to-video model on the synthetic set or a folder of clips.
//
//   vdm train --config configs/moving_shapes_small.json --data synthetic:moving-shapes --out runs/shapes
//   vdm train --out runs/shapes --resume            # continue from the newest checkpoint
//
// The run folder gets config.json, train.jsonl (one JSON line per step: loss, lr, gradient
// norm, throughput), loss.png, checkpoints/ and, at the end, model.safetensors (the EMA
// weights, what `vdm generate --checkpoint` and `vdm eval` read). Ctrl-C (SIGINT) or SIGTERM
// stops after the current step and writes a checkpoint, so --resume continues exactly.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <set>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/data/dataset.h"
#include "vdm/data/video_folder.h"
#include "vdm/io/safetensors.h"
#include "vdm/models/weights.h"
#include "vdm/models/word_tokenizer.h"
#include "vdm/train/trainer.h"

namespace vdm::cli {

namespace {

namespace fs = std::filesystem;

struct TrainFlags {
  std::string config;
  std::string data;
  std::string out;
  int64_t steps = 0;  // 0: the config's
  bool resume = false;
  std::string precision;  // empty: the config's
  std::string init;       // empty: the config's train.init
};

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
  // A second signal ends the process at once.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

// The run config: from --config, or from the run's newest checkpoint when resuming.
train::RunConfig read_config(const TrainFlags& f, const std::optional<std::string>& checkpoint) {
  if (!f.config.empty()) return train::RunConfig::from_file(f.config);
  VDM_USAGE_CHECK(checkpoint.has_value(), "--config FILE is required (unless --resume finds a checkpoint in {})",
                  f.out);
  const auto header = io::read_safetensors_header(*checkpoint);
  auto get = [&](const char* key) {
    const auto it = header.metadata.find(key);
    VDM_CHECK(it != header.metadata.end(), "{}: no \"{}\" in the metadata", *checkpoint, key);
    return io::parse_json(it->second, *checkpoint + ": " + key);
  };
  train::RunConfig config;
  config.model = train::TextVideoConfig::from_json(get("vdm.text_to_video"));
  config.train = train::TrainConfig::from_json(get("vdm.train_config"));
  models::check_model_fits_file(config.model.unet.parameter_bound() + config.model.text_encoder.parameter_bound(),
                                header.data_size, *checkpoint);
  return config;
}

std::string checkpoint_data_spec(const std::string& checkpoint) {
  const auto header = io::read_safetensors_header(checkpoint);
  const auto it = header.metadata.find("vdm.train_state");
  if (it == header.metadata.end()) return {};
  return train::TrainState::from_json(io::parse_json(it->second, checkpoint)).data;
}

// A folder's captions must be in the text encoder's vocabulary; say which words are not
// before any training starts.
void check_vocabulary(const data::VideoDataset& dataset, const train::RunConfig& config) {
  const auto* folder = dynamic_cast<const data::VideoFolder*>(&dataset);
  if (folder == nullptr) return;
  const models::WordTokenizer tokenizer(config.model.text_encoder.vocabulary, config.model.text_encoder.max_length);
  std::set<std::string> missing;
  for (int64_t i = 0; i < folder->clips(); ++i) {
    const auto& caption = folder->entry(i).caption;
    for (const auto& w : tokenizer.unknown_words(caption)) missing.insert(w);
    VDM_CHECK(static_cast<int64_t>(models::WordTokenizer::split(caption).size()) <= tokenizer.max_length(),
              "{} line {}: the caption has more than text_encoder.max_length = {} words", folder->entry(i).file,
              folder->entry(i).line, tokenizer.max_length());
  }
  VDM_CHECK(missing.empty(),
            "the captions use {} words outside the config's text_encoder.vocabulary: {}. List every caption word "
            "in model.text_encoder.vocabulary.",
            missing.size(), fmt::join(missing, ", "));
}

// --data: synthetic:moving-shapes, or folder:DIR with DIR an existing folder.
void data_flag(const std::string& spec) {
  const std::string folder = "folder:";
  if (spec == "synthetic:moving-shapes") return;
  if (spec.rfind(folder, 0) == 0) {
    const auto dir = spec.substr(folder.size());
    std::error_code ec;
    VDM_USAGE_CHECK(!dir.empty() && std::filesystem::is_directory(dir, ec),
                    "--data {}: no such folder '{}' (expected folder:DIR with clips and captions.jsonl)", spec, dir);
    return;
  }
  throw UsageError(fmt::format("--data {}: expected synthetic:moving-shapes or folder:DIR", spec));
}

int run_train(const TrainFlags& f, const GlobalOptions& global) {
  // 1. Flags.
  VDM_USAGE_CHECK(!f.out.empty(), "--out RUN is required (the run folder)");
  VDM_USAGE_CHECK(f.precision.empty() || f.precision == "f32" || f.precision == "bf16",
                  "--precision must be f32 or bf16, got '{}'", f.precision);
  if (!f.config.empty()) input_path_flag("--config", f.config);
  if (!f.init.empty()) input_path_flag("--init", f.init);
  if (!f.data.empty()) data_flag(f.data);
  const auto checkpoint = train::latest_checkpoint(f.out);
  if (f.resume) {
    VDM_USAGE_CHECK(checkpoint.has_value(), "--resume: no checkpoint in {}/checkpoints to resume from", f.out);
  } else {
    VDM_USAGE_CHECK(!checkpoint.has_value(),
                    "{} already holds a run (newest checkpoint {}); pass --resume to continue it, or choose another "
                    "--out", f.out, *checkpoint);
  }
  auto config = read_config(f, f.resume ? checkpoint : std::nullopt);
  if (f.steps > 0) config.train.steps = f.steps;
  if (!f.precision.empty()) config.train.precision = f.precision;
  if (!f.init.empty()) {
    VDM_USAGE_CHECK(!f.resume, "--init starts a new run from other weights; a resumed run has its own (drop --init)");
    std::error_code ec;
    VDM_USAGE_CHECK(std::filesystem::is_regular_file(f.init, ec), "--init {}: not a file", f.init);
    config.train.init = f.init;
  }
  std::string data_spec = f.data;
  if (data_spec.empty() && f.resume) data_spec = checkpoint_data_spec(*checkpoint);
  VDM_USAGE_CHECK(!data_spec.empty(), "--data is required: synthetic:moving-shapes or folder:DIR");

  const torch::Device device = parse_device(global.device);
  if (config.train.precision == "bf16") {
    if (!f.precision.empty()) {
      parse_dtype("bf16", device);  // asked for on the command line: an error when the device cannot
    } else if (device.is_cpu() && !cpu_supports_bf16()) {
      // The shipped config asks for bf16; a CPU without it trains the same model in f32.
      spdlog::warn("this CPU has no AVX512-BF16 or AMX: training in f32 instead of the config's bf16 (the same "
                   "losses, slower)");
      config.train.precision = "f32";
    }
  }

  // 2. Data and trainer.
  data::DatasetOptions data_options;
  data_options.frames = config.model.frames;
  data_options.height = config.model.height;
  data_options.width = config.model.width;
  data_options.seed = config.train.seed;
  std::shared_ptr<const data::VideoDataset> dataset = data::open_dataset(data_spec, data_options);
  check_vocabulary(*dataset, config);

  train::TrainerOptions options;
  options.run_dir = f.out;
  options.device = device;
  options.data_spec = data_spec;
  train::Trainer trainer(config, dataset, options);
  if (f.resume) trainer.resume(*checkpoint);
  const int64_t start_step = trainer.step_count();
  spdlog::info("{}: {} parameters (U-Net {}, text encoder {}), {}; {} on {}, {}; steps {}..{} of {}", f.out,
               trainer.model().parameter_count(), trainer.model().unet->parameter_count(),
               trainer.model().parameter_count() - trainer.model().unet->parameter_count(), dataset->describe(),
               config.train.precision, device.str(), blas_implementation(), start_step, config.train.steps,
               config.train.steps);
  if (start_step >= config.train.steps) {
    // A run stopped after its last checkpoint but before exporting the model (killed, say)
    // still gets its model file.
    const auto model_path = (std::filesystem::path(f.out) / "model.safetensors").string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(model_path, ec)) trainer.export_model(model_path);
    fmt::print("{}: already at step {} of {}; nothing to do (raise --steps to train further)\n", f.out, start_step,
               config.train.steps);
    return 0;
  }

  // 3. Train, stopping cleanly on SIGINT / SIGTERM.
  g_stop.store(false);
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  auto previous_term = std::signal(SIGTERM, on_stop_signal);
  Progress progress("train", config.train.steps - start_step, global.progress());
  double smooth = std::nan(""), seconds = 0;
  int64_t clips = 0;
  trainer.run(
      config.train.steps,
      [&](const train::StepResult& r) {
        if (std::isfinite(r.loss)) smooth = std::isnan(smooth) ? r.loss : 0.95 * smooth + 0.05 * r.loss;
        seconds += r.seconds;
        clips += r.clips;
        progress.advance(1, fmt::format("loss {:.4f} (avg {:.4f}) lr {:.2e} {:.2f} s/step", r.loss, smooth, r.lr,
                                        r.seconds));
      },
      [] { return g_stop.load(); });
  progress.finish();
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);

  const int64_t done = trainer.step_count() - start_step;
  const auto latest = train::latest_checkpoint(f.out);
  fmt::print("{} steps {}..{} of {} in {:.1f} s ({:.3f} s/step, {:.1f} clips/s), loss (moving average) {:.4f}, "
             "{} skipped; checkpoint {}, model {}\n",
             g_stop.load() ? "stopped after" : "trained", start_step, trainer.step_count(), config.train.steps,
             seconds, done > 0 ? seconds / static_cast<double>(done) : 0.0, seconds > 0 ? clips / seconds : 0.0,
             smooth, trainer.skipped_steps(), latest.value_or("none"),
             (fs::path(f.out) / "model.safetensors").string());
  return 0;
}

}  // namespace

Runner setup_train(CLI::App& command, const GlobalOptions& global) {
  auto flags = std::make_shared<TrainFlags>();
  command.add_option("--config", flags->config, "run config JSON (configs/moving_shapes_small.json)");
  command.add_option("--data", flags->data, "synthetic:moving-shapes or folder:DIR (clips + captions.jsonl)");
  command.add_option("--out", flags->out, "run folder: config, train.jsonl, loss.png, checkpoints/, model")
      ->required();
  command.add_option("--steps", flags->steps, "total optimizer steps (default: the config's train.steps)")
      ->check(CLI::PositiveNumber);
  command.add_flag("--resume", flags->resume, "continue from the newest checkpoint in --out");
  command.add_option("--precision", flags->precision,
                     "f32 or bf16 autocast (default: the config's train.precision)");
  command.add_option("--init", flags->init,
                     "fine-tune: start from this model file or checkpoint's weights (default: the config's "
                     "train.init, else fresh weights)");
  return [flags, &global] { return run_train(*flags, global); };
}

}  // namespace vdm::cli
