// Training checkpoints: ONE safetensors file per checkpoint holding everything a run needs to
// continue exactly where it stopped (train/trainer.h):
//
//   model.<name>             the weights being trained   (unet.*, text_encoder.*)
//   ema.<name>               their exponential moving average (what the model ships with)
//   optimizer.<name>.exp_avg, .exp_avg_sq, .step    AdamW's moments and step count per parameter
//   rng.train                the CPU generator behind t, noise and caption dropout draws
//   rng.torch_default        LibTorch's global CPU generator (dropout layers, if any)
//   __metadata__: vdm.text_to_video (model config), vdm.train_config, vdm.train_state
//                 (step, data position, EMA updates, skipped steps, data spec) as JSON
//
// Files are written atomically (io::save_safetensors: temporary file, fsync, rename), named
// RUN/checkpoints/step_<8 digits>.safetensors, and all but the newest K are deleted after
// each save. load_text_video_model (text_video_model.h) reads a checkpoint as a model (its
// EMA weights), so `vdm generate --checkpoint` takes either kind of file.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"

namespace vdm::train {

// RUN/checkpoints/step_00001234.safetensors
std::string checkpoint_path(const std::string& run_dir, int64_t step);
// Checkpoints in RUN/checkpoints, oldest first, as (step, path).
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir);
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// Deletes all but the newest `keep`.
void prune_checkpoints(const std::string& run_dir, int64_t keep);
// The temporary files of writes a crash interrupted (io/atomic_file.h names them
// ".<file>.tmp-<8 hex digits>"), in RUN and RUN/checkpoints. They never count as checkpoints.
std::vector<std::string> partial_writes(const std::string& run_dir);
// Deletes them; returns how many. A run folder is used by one trainer at a time.
int64_t remove_partial_writes(const std::string& run_dir);

// The counters of a run, stored as JSON in a checkpoint's metadata.
struct TrainState {
  int64_t step = 0;           // optimizer steps taken (skipped ones included)
  int64_t data_position = 0;  // training examples consumed (data::training_indices)
  int64_t ema_updates = 0;
  int64_t skipped_steps = 0;  // non-finite loss or gradient: no update
  int64_t skipped_in_a_row = 0;  // of which at the end of the run so far
  std::string data;           // the data spec the run trains on ("synthetic:moving-shapes")

  io::Json to_json() const;
  static TrainState from_json(const io::Json& json);
};

// AdamW's per-parameter state as tensors "optimizer.<name>.{exp_avg,exp_avg_sq,step}", for
// `params` (name, tensor) in the order the optimizer holds them. Parameters without state
// (never updated) are left out.
io::TensorList optimizer_state(const torch::optim::AdamW& optimizer,
                               const std::vector<std::pair<std::string, torch::Tensor>>& params);
// Restores it (copies onto each parameter's device). Throws vdm::Error naming `source` and
// the parameter for missing or mis-shaped moments.
void load_optimizer_state(torch::optim::AdamW& optimizer,
                          const std::vector<std::pair<std::string, torch::Tensor>>& params,
                          const io::TensorFile& file, const std::string& source);

}  // namespace vdm::train
