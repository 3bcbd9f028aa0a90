// Training a text-to-video diffusion model (train/text_video_model.h) on a VideoDataset.
//
// One step (seed 1.1-1.3; DDPM's Algorithm 1 in continuous time):
//   1. the next batch_size clips at the data position, and their captions' token ids;
//   2. caption dropout: each item's caption is replaced by the null embedding with
//      probability caption_dropout (classifier-free guidance, Ho & Salimans 2022);
//   3. t ~ U(0, 1), eps ~ N(0, I), z_t = alpha_t x + sigma_t eps, and the MSE between the
//      U-Net's prediction and the target in its parameterization (v by default: Salimans &
//      Ho 2022, Sec. 4; it avoids the colour shift of eps models at low SNR), through
//      diffusion::diffusion_loss;
//   4. backward, clip the global gradient norm, AdamW with the scheduled learning rate, then
//      fold the weights into the EMA. A non-finite loss or gradient norm skips 4 (counted in
//      skipped_steps and logged): weights, AdamW moments and EMA stay exactly as they were.
//      The data position still advances, so a bad batch is not retried forever, and
//      train.max_skipped_in_a_row skips in a row stop the run with a vdm::Error.
//
// Exact resume: every random draw of a step comes from one CPU generator whose state is in
// the checkpoint with the weights, EMA, AdamW moments and step counts, the step and the data
// position (data::training_indices maps it to examples). On the same build, device and thread
// count, N steps in one go and N/2 + resume + N/2 give bit-identical losses and weights.
//
//   auto config = vdm::train::RunConfig::from_file("configs/moving_shapes_small.json");
//   auto data = vdm::data::open_dataset("synthetic:moving-shapes", {...});
//   vdm::train::Trainer trainer(config, std::move(data), {.run_dir = "runs/a"});
//   trainer.run(config.train.steps);   // logs, checkpoints, plots; exports RUN/model.safetensors
//
// Not thread-safe: one trainer, one thread (LibTorch parallelises inside each operation).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vdm/data/dataset.h"
#include "vdm/models/unet3d_denoiser.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/config.h"
#include "vdm/train/ema.h"
#include "vdm/train/lr_schedule.h"
#include "vdm/train/text_video_model.h"

namespace vdm::train {

// Fault injection, for the reliability tests: what to corrupt in a given step.
enum class Fault { kNone, kLoss, kGradient };

struct TrainerOptions {
  // Where train.jsonl, loss.png, config.json, checkpoints/ and model.safetensors go; empty:
  // nothing is written (tests drive step() directly).
  std::string run_dir;
  torch::Device device = torch::kCPU;
  std::string data_spec = "synthetic:moving-shapes";  // recorded in checkpoints
  // Tests only: called with the step about to run (1-based); kLoss makes its loss NaN,
  // kGradient one gradient entry +Inf, as a numerical blow-up would.
  std::function<Fault(int64_t step)> inject_fault;
};

struct StepResult {
  int64_t step = 0;  // steps done after this one (1 for the first)
  double loss = 0;   // before the update; NaN/Inf when skipped for a non-finite loss
  double lr = 0;
  double grad_norm = 0;  // before clipping
  bool skipped = false;
  double seconds = 0;       // wall time of the whole step
  double data_seconds = 0;  // of which making the batch
  int64_t clips = 0;
};

class Trainer {
 public:
  // Builds the model with fresh weights (torch::manual_seed(config.train.seed) first) and
  // the optimizer. Throws vdm::Error when the data's clip shape differs from the model's.
  Trainer(RunConfig config, std::shared_ptr<const data::VideoDataset> data, TrainerOptions options = {});

  // One optimizer step (see the header comment).
  StepResult step();

  // Steps until step_count() == until (or `stop` returns true, checked between steps),
  // writing train.jsonl every log_every steps, a checkpoint every checkpoint_every steps and
  // at the end, loss.png every plot_every steps and at the end, and RUN/model.safetensors (the
  // EMA weights) at the end. `on_step` sees every step (the CLI's progress bar).
  void run(int64_t until, const std::function<void(const StepResult&)>& on_step = {},
           const std::function<bool()>& stop = {});

  // Writes a checkpoint to `path` (atomic), or to RUN/checkpoints/step_N.safetensors and
  // deletes all but the newest keep_checkpoints. Returns the path.
  std::string save_checkpoint(const std::string& path = {});
  // Restores everything from a checkpoint written by save_checkpoint. The checkpoint's model
  // and train configs must equal this trainer's, except `steps` (the run may be extended):
  // differences are listed in the vdm::Error.
  void resume(const std::string& path);

  // Everything a checkpoint holds besides its JSON metadata, on the CPU: "model.*" (weights
  // and buffers), "ema.*", "optimizer.*" (AdamW moments and step counts), "rng.*".
  io::TensorList state_tensors() const;

  // The EMA weights as an inference model file (load_text_video_model reads it).
  void export_model(const std::string& path) const;

  int64_t step_count() const { return state_.step; }
  int64_t data_position() const { return state_.data_position; }
  int64_t skipped_steps() const { return state_.skipped_steps; }
  const RunConfig& config() const { return config_; }
  TextVideoModel& model() { return model_; }
  const Ema& ema() const { return *ema_; }
  double lr_at(int64_t step) const { return lr_.at(step); }
  // Losses logged so far (from train.jsonl when resumed in a run folder), for plots.
  const std::vector<std::pair<int64_t, double>>& loss_history() const { return history_; }

 private:
  void append_log(const StepResult& r);
  void initialise_from(const std::string& path);  // train.init
  // The loss curve is a convenience: failing to draw it warns and training goes on.
  void plot_loss(const std::string& path) const;
  void truncate_log_after(int64_t step);

  RunConfig config_;
  std::shared_ptr<const data::VideoDataset> data_;
  TrainerOptions options_;
  TextVideoModel model_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;  // trained, in optimizer order
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<Ema> ema_;
  std::shared_ptr<diffusion::Schedule> schedule_;
  std::unique_ptr<models::UNet3DDenoiser> denoiser_;
  torch::Generator generator_;  // t, eps and caption dropout
  LrSchedule lr_;
  TrainState state_;
  std::vector<std::pair<int64_t, double>> history_;
  double elapsed_s_ = 0;  // wall time of steps in this process
};

}  // namespace vdm::train
