// The trainer: exact resume, a falling loss, skipped non-finite steps, checkpoints, and its
// small parts (learning-rate schedule, EMA, loss plot).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>

#include "support/test_util.h"
#include "train/train_test_util.h"
#include "vdm/core/error.h"
#include "vdm/core/runtime.h"
#include "vdm/io/safetensors.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/ema.h"
#include "vdm/train/loss_plot.h"
#include "vdm/train/lr_schedule.h"
#include "vdm/train/trainer.h"

namespace vdm::train {
namespace {

using test::tiny_data;
using test::tiny_run_config;

TEST(TrainLrSchedule, WarmsUpLinearlyThenDecaysByCosineToTheFloor) {
  const LrSchedule s{1e-3, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);
  EXPECT_NEAR(s.at(10 + 99 / 2.0), 0.55e-3, 1e-5);  // halfway: (peak + floor) / 2
  EXPECT_DOUBLE_EQ(s.at(109), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(500), 1e-4);
  for (int64_t i = 11; i < 110; ++i) EXPECT_LE(s.at(i), s.at(i - 1));
}

TEST(TrainEma, AveragesTrainedTensorsWithAWarmedUpDecayAndCopiesBuffers) {
  io::TensorList state = {{"w", torch::zeros({2})}, {"buf", torch::zeros({1})}};
  Ema ema(state, {"w"}, 0.99);
  EXPECT_DOUBLE_EQ(ema.decay_at(0), 0.1);
  EXPECT_DOUBLE_EQ(ema.decay_at(1000), 0.99);
  state[0].second.fill_(1.0);
  state[1].second.fill_(5.0);
  ema.update(state);  // d = 0.1: 0.1 * 0 + 0.9 * 1
  EXPECT_FLOAT_EQ(ema.averages()[0].second[0].item<float>(), 0.9f);
  EXPECT_FLOAT_EQ(ema.averages()[1].second[0].item<float>(), 5.0f);
  EXPECT_EQ(ema.updates(), 1);
}

// N steps straight vs N/2, a checkpoint, a fresh trainer resumed from it, and N/2 more:
// the same losses and the same weights, EMA and optimizer moments, bit for bit.
TEST(Trainer, ResumeAfterAnInterruptionReproducesTheUninterruptedRunExactly) {
  vdm::test::TempDir dir;
  auto config = tiny_run_config();
  config.train.caption_dropout = 0.5;  // exercise the dropout draws and the null embedding
  const int64_t n = 6;

  std::vector<double> straight;
  Trainer a(config, tiny_data(config));
  for (int64_t i = 0; i < n; ++i) straight.push_back(a.step().loss);

  std::vector<double> resumed;
  const std::string ck = dir.file("half.safetensors");
  {
    Trainer b(config, tiny_data(config));
    for (int64_t i = 0; i < n / 2; ++i) resumed.push_back(b.step().loss);
    b.save_checkpoint(ck);
    for (int64_t i = 0; i < 2; ++i) b.step();  // work lost to the interruption
  }
  torch::manual_seed(12345);  // the global generator is restored from the checkpoint too
  Trainer c(config, tiny_data(config));
  c.resume(ck);
  EXPECT_EQ(c.step_count(), n / 2);
  EXPECT_EQ(c.data_position(), n / 2 * config.train.batch_size);
  for (int64_t i = n / 2; i < n; ++i) resumed.push_back(c.step().loss);

  ASSERT_EQ(straight.size(), resumed.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_EQ(straight[i], resumed[i]) << "step " << i + 1;  // bit-identical
  }
  const auto wa = a.model().state(), wc = c.model().state();
  ASSERT_EQ(wa.size(), wc.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i].second, wc[i].second)) << wa[i].first;
  const auto& ea = a.ema().averages();
  const auto& ec = c.ema().averages();
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_TRUE(torch::equal(ea[i].second, ec[i].second)) << ea[i].first;
  // One more step from each stays identical (optimizer moments and generator restored).
  EXPECT_EQ(a.step().loss, c.step().loss);
}

TEST(Trainer, LossFallsOverAShortRun) {
  auto config = tiny_run_config();
  config.train.steps = 50;
  Trainer trainer(config, tiny_data(config));
  std::vector<double> losses;
  for (int64_t i = 0; i < config.train.steps; ++i) {
    const auto r = trainer.step();
    ASSERT_FALSE(r.skipped) << "step " << r.step;
    losses.push_back(r.loss);
  }
  const double first = std::accumulate(losses.begin(), losses.begin() + 10, 0.0) / 10;
  const double last = std::accumulate(losses.end() - 10, losses.end(), 0.0) / 10;
  EXPECT_LT(last, 0.8 * first) << "mean loss of the first 10 steps " << first << ", of the last 10 " << last;
}

// A data set whose clip 5 is all NaN.
class PoisonedData : public data::VideoDataset {
 public:
  explicit PoisonedData(std::shared_ptr<const data::VideoDataset> inner) : inner_(std::move(inner)) {}
  std::optional<int64_t> size() const override { return inner_->size(); }
  data::VideoBatch batch(const std::vector<int64_t>& indices) const override {
    auto b = inner_->batch(indices);
    for (size_t i = 0; i < indices.size(); ++i) {
      if (indices[i] == 5) b.frames[static_cast<int64_t>(i)].fill_(std::nan(""));
    }
    return b;
  }
  std::array<int64_t, 3> clip_shape() const override { return inner_->clip_shape(); }
  std::string describe() const override { return "poisoned"; }

 private:
  std::shared_ptr<const data::VideoDataset> inner_;
};

TEST(Trainer, NonFiniteLossSkipsTheUpdateAndTrainingGoesOn) {
  auto config = tiny_run_config();
  Trainer trainer(config, std::make_shared<PoisonedData>(tiny_data(config)));
  const auto r1 = trainer.step();  // clips 0..3
  EXPECT_FALSE(r1.skipped);
  const auto before = trainer.model().state();
  std::vector<torch::Tensor> copies;
  for (const auto& [name, t] : before) copies.push_back(t.clone());
  const auto r2 = trainer.step();  // clips 4..7: clip 5 is NaN
  EXPECT_TRUE(r2.skipped);
  EXPECT_FALSE(std::isfinite(r2.loss));
  EXPECT_EQ(trainer.skipped_steps(), 1);
  const auto after = trainer.model().state();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(copies[i], after[i].second)) << after[i].first;
  const auto r3 = trainer.step();
  EXPECT_FALSE(r3.skipped);
  EXPECT_TRUE(std::isfinite(r3.loss));
  EXPECT_EQ(trainer.data_position(), 12);
}

TEST(Trainer, RunWritesLogPlotCheckpointsKeepsTheNewestAndExportsTheModel) {
  vdm::test::TempDir dir;
  auto config = tiny_run_config();
  config.train.checkpoint_every = 2;
  config.train.keep_checkpoints = 2;
  config.train.plot_every = 3;
  TrainerOptions options;
  options.run_dir = dir.file("run");
  Trainer trainer(config, tiny_data(config), options);
  int64_t seen = 0;
  trainer.run(7, [&](const StepResult&) { ++seen; });
  EXPECT_EQ(seen, 7);
  const auto cks = list_checkpoints(options.run_dir);
  ASSERT_EQ(cks.size(), 2u);  // steps 6 and 7 (2 and 4 pruned)
  EXPECT_EQ(cks[0].first, 6);
  EXPECT_EQ(cks[1].first, 7);
  std::ifstream log(dir.file("run/train.jsonl"));
  int64_t lines = 0;
  for (std::string line; std::getline(log, line);) {
    const auto j = io::parse_json(line, "train.jsonl");
    EXPECT_EQ(j["step"].get<int64_t>(), ++lines);
    EXPECT_TRUE(j["loss"].is_number());
    EXPECT_GT(j["clips_per_s"].get<double>(), 0);
  }
  EXPECT_EQ(lines, 7);
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("run/loss.png")));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("run/config.json")));

  // The exported model and the checkpoint load as models with the EMA weights.
  const auto exported = load_text_video_model(dir.file("run/model.safetensors"));
  const auto from_ck = load_text_video_model(cks[1].second);
  const auto ema = trainer.ema().averages();
  const auto se = exported.state(), sc = from_ck.state();
  for (size_t i = 0; i < ema.size(); ++i) {
    EXPECT_TRUE(torch::equal(se[i].second, ema[i].second)) << ema[i].first;
    EXPECT_TRUE(torch::equal(sc[i].second, ema[i].second)) << ema[i].first;
  }

  // Resuming in the run folder truncates the log to the checkpoint and continues it.
  Trainer resumed(config, tiny_data(config), options);
  resumed.resume(cks[0].second);  // step 6
  EXPECT_EQ(resumed.loss_history().size(), 6u);
  resumed.run(8);
  std::ifstream log2(dir.file("run/train.jsonl"));
  lines = 0;
  for (std::string line; std::getline(log2, line);) {
    EXPECT_EQ(io::parse_json(line, "train.jsonl")["step"].get<int64_t>(), ++lines);
  }
  EXPECT_EQ(lines, 8);
}

// Fine-tuning (train.init): the new run starts from the file's weights; a tensor the model
// gains keeps its fresh value (the text-time embedding, whose zero gain leaves the model's
// output as it was), and weights of another shape are an error naming them.
TEST(Trainer, InitStartsFromAnotherModelsWeightsAndKeepsNewPartsFresh) {
  vdm::test::TempDir dir;
  auto base = tiny_run_config();
  TrainerOptions options;
  options.run_dir = dir.file("base");
  Trainer first(base, tiny_data(base), options);
  first.run(2);
  const auto source = load_text_video_model(dir.file("base/model.safetensors"));

  auto config = base;
  config.model.unet.addition_embed_type = "text";
  config.model.unet.addition_embed_type_num_heads = 2;
  config.train.init = dir.file("base/model.safetensors");
  Trainer tuned(config, tiny_data(config), {});
  std::map<std::string, torch::Tensor> after;
  for (auto& [name, t] : tuned.model().state()) after.emplace(name, t);
  for (const auto& [name, t] : source.state()) {
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_TRUE(torch::equal(after.at(name), t)) << name;
    after.erase(name);
  }
  ASSERT_FALSE(after.empty());
  for (const auto& [name, t] : after) EXPECT_EQ(name.rfind("unet.add_embedding.", 0), 0u) << name;
  EXPECT_TRUE(torch::equal(after.at("unet.add_embedding.norm2.weight"),
                           torch::zeros_like(after.at("unet.add_embedding.norm2.weight"))));

  auto wider = base;
  wider.model.unet.block_out_channels[0] *= 2;
  wider.train.init = dir.file("base/model.safetensors");
  try {
    Trainer bad(wider, tiny_data(wider), {});
    FAIL() << "weights of another shape were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("base/model.safetensors"), std::string::npos) << e.what();
  }
}

// train.init_drop: a fine-tune that replaces a part (the relative frame bias by a sinusoidal
// frame embedding) leaves that part of the file out by name; without the entry the file's
// extra tensors are an error, and an entry that matches nothing is one too (a typo).
TEST(Trainer, InitDropLeavesOutTheNamedTensorsOfTheFile) {
  vdm::test::TempDir dir;
  auto base = tiny_run_config();
  base.model.unet.frame_position = "relative";
  TrainerOptions options;
  options.run_dir = dir.file("base");
  Trainer first(base, tiny_data(base), options);
  first.run(1);
  const auto source = load_text_video_model(dir.file("base/model.safetensors"));
  size_t biases = 0;
  for (const auto& [name, t] : source.state()) biases += name.find("rel_pos_bias") != std::string::npos;
  ASSERT_GT(biases, 0u);

  auto config = base;
  config.model.unet.frame_position = "sinusoidal";
  config.train.init = dir.file("base/model.safetensors");
  auto expect_error = [&](const RunConfig& c, const std::string& needle) {
    try {
      Trainer bad(c, tiny_data(c), {});
      FAIL() << "accepted; expected an error with " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(config, "rel_pos_bias");  // the file's biases have nowhere to go

  config.train.init_drop = {"rel_pos_bias"};
  Trainer tuned(config, tiny_data(config), {});
  std::map<std::string, torch::Tensor> after;
  for (auto& [name, t] : tuned.model().state()) after.emplace(name, t);
  size_t copied = 0;
  for (const auto& [name, t] : source.state()) {
    if (name.find("rel_pos_bias") != std::string::npos) {
      EXPECT_EQ(after.count(name), 0u) << name;
      continue;
    }
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_TRUE(torch::equal(after.at(name), t)) << name;
    ++copied;
  }
  EXPECT_EQ(copied + biases, source.state().size());

  config.train.init_drop = {"rel_pos_bias", "no_such_tensor"};
  expect_error(config, "no_such_tensor");
}

// A checkpoint with NaN or Inf weights is never written; the previous one stays.
TEST(Trainer, RefusesToCheckpointNonFiniteWeights) {
  vdm::test::TempDir dir;
  auto config = tiny_run_config();
  TrainerOptions options;
  options.run_dir = dir.file("run");
  Trainer trainer(config, tiny_data(config), options);
  trainer.step();
  const auto good = trainer.save_checkpoint();
  {
    torch::NoGradGuard no_grad;
    trainer.model().named_parameters().front().second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  }
  trainer.step();
  try {
    trainer.save_checkpoint();
    FAIL() << "a checkpoint with a NaN weight was written";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(trainer.model().named_parameters().front().first), std::string::npos)
        << e.what();
  }
  const auto cks = list_checkpoints(options.run_dir);
  ASSERT_EQ(cks.size(), 1u);
  EXPECT_EQ(cks[0].second, good);
  EXPECT_NO_THROW(load_text_video_model(good));
}

TEST(Trainer, ResumeRefusesACheckpointOfAnotherConfig) {
  vdm::test::TempDir dir;
  auto config = tiny_run_config();
  Trainer a(config, tiny_data(config));
  a.step();
  a.save_checkpoint(dir.file("ck.safetensors"));
  auto other = config;
  other.train.lr = 5e-3;
  other.train.steps = 99;  // allowed to differ
  Trainer b(other, tiny_data(other));
  try {
    b.resume(dir.file("ck.safetensors"));
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("train.steps"), std::string::npos) << msg;
  }
  auto longer = config;
  longer.train.steps = 99;
  Trainer c(longer, tiny_data(longer));
  EXPECT_NO_THROW(c.resume(dir.file("ck.safetensors")));
}

// A checkpoint from before the t_bias_* fields existed resumes: its missing fields read as the
// defaults it trained with. A run that sets them is another optimisation and is refused.
TEST(Trainer, ResumesACheckpointWrittenBeforeTheTimestepBiasFields) {
  vdm::test::TempDir dir;
  auto config = tiny_run_config();
  Trainer a(config, tiny_data(config));
  a.step();
  a.save_checkpoint(dir.file("ck.safetensors"));
  auto file = io::load_safetensors(dir.file("ck.safetensors"));
  auto& meta = file.metadata.at("vdm.train_config");
  auto train = io::parse_json(meta, "ck");
  ASSERT_TRUE(train.contains("t_bias_fraction"));
  for (const char* key : {"t_bias_fraction", "t_bias_begin", "t_bias_end"}) train.erase(key);
  meta = train.dump();
  io::save_safetensors(dir.file("old.safetensors"), file.tensors, file.metadata);

  Trainer b(config, tiny_data(config));
  EXPECT_NO_THROW(b.resume(dir.file("old.safetensors")));
  auto biased = config;
  biased.train.t_bias_fraction = 0.5;
  biased.train.t_bias_begin = 0.7;
  Trainer c(biased, tiny_data(biased));
  try {
    c.resume(dir.file("old.safetensors"));
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.t_bias_fraction"), std::string::npos) << e.what();
  }
}

// The biased draw reaches the loss (same seed, same first weights: only t differs), and a bad
// range is refused naming the fields.
TEST(Trainer, TimestepBiasReachesTheLossAndValidates) {
  auto config = tiny_run_config();
  const double plain = Trainer(config, tiny_data(config)).step().loss;
  config.train.t_bias_fraction = 1.0;
  config.train.t_bias_begin = 0.9;
  const double biased = Trainer(config, tiny_data(config)).step().loss;
  EXPECT_TRUE(std::isfinite(biased));
  EXPECT_GT(std::abs(biased - plain), 1e-3 * plain);
  auto j = config.to_json();
  j["train"]["t_bias_end"] = 0.8;  // below begin
  try {
    RunConfig::from_json(j);
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t_bias_begin < t_bias_end"), std::string::npos) << e.what();
  }
}

TEST(Trainer, Bf16AutocastTrainsCloseToFloat32) {
  if (!cpu_supports_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  auto config = tiny_run_config();
  Trainer f32(config, tiny_data(config));
  config.train.precision = "bf16";
  Trainer bf16(config, tiny_data(config));
  for (int i = 0; i < 3; ++i) {
    const auto a = f32.step(), b = bf16.step();
    ASSERT_FALSE(b.skipped);
    EXPECT_NEAR(a.loss, b.loss, 0.05 * a.loss) << "step " << i + 1;
  }
  // Weights, moments and the EMA stay float32.
  for (const auto& [name, t] : bf16.model().state()) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
}

TEST(Trainer, DataOfAnotherClipShapeIsAnError) {
  auto config = tiny_run_config();
  auto data_config = config;
  data_config.model.frames = 5;
  EXPECT_THROW(Trainer(config, tiny_data(data_config)), Error);
}

TEST(TrainConfigFile, RejectsUnknownAndMistypedFields) {
  auto j = tiny_run_config().to_json();
  EXPECT_NO_THROW(RunConfig::from_json(j));
  auto typo = j;
  typo["train"]["learning_rate"] = 1e-3;
  EXPECT_THROW(RunConfig::from_json(typo), Error);
  auto wrong = j;
  wrong["train"]["batch_size"] = "16";
  EXPECT_THROW(RunConfig::from_json(wrong), Error);
  auto mismatch = j;
  mismatch["model"]["unet"]["cross_attention_dim"] = 32;
  EXPECT_THROW(RunConfig::from_json(mismatch), Error);
}

// Every config in configs/ (the commands in docs/ name them) parses strictly, builds its model,
// and that model takes a clip of the config's shape; a fine-tune's init file exists.
TEST(TrainConfigFile, EveryConfigInTheRepositoryLoadsAndBuildsItsModel) {
  const auto root = std::filesystem::path(VDM_FIXTURES_DIR) / ".." / "..";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root / "configs")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    RunConfig config;
    ASSERT_NO_THROW(config = RunConfig::from_file(entry.path().string()));
    if (!config.train.init.empty()) {
      EXPECT_TRUE(std::filesystem::exists(root / config.train.init));
    }
    torch::NoGradGuard no_grad;
    auto model = make_text_video_model(config.model);
    const auto& m = config.model;
    auto x = torch::zeros({1, m.unet.in_channels, m.frames, m.height, m.width});
    auto ctx = torch::zeros({1, 4, m.unet.cross_attention_dim});
    EXPECT_EQ(model.unet->forward(x, torch::full({1}, 500.0), ctx).sizes(), x.sizes());
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(TrainLossPlot, DrawsTheCurveAndWritesAPng) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t i = 1; i <= 200; ++i) points.emplace_back(i, 1.0 / std::sqrt(static_cast<double>(i)));
  const auto image = render_loss_plot(points, {320, 200});
  ASSERT_EQ(image.sizes(), torch::IntArrayRef({3, 200, 320}));
  // The dark blue average is drawn: pixels with much more blue than red.
  const auto blueish = (image[2] - image[0]).gt(0.5).sum().item<int64_t>();
  EXPECT_GT(blueish, 200);
  vdm::test::TempDir dir;
  write_loss_plot(dir.file("loss.png"), points);
  EXPECT_GT(std::filesystem::file_size(dir.file("loss.png")), 100u);
  EXPECT_NO_THROW(render_loss_plot({}, {}));  // empty: axes only
}

}  // namespace
}  // namespace vdm::train
