// A training run's configuration: the model (train/text_video_model.h) and how to train it.
// One JSON file (configs/*.json), read strictly: an unknown or mistyped field is an error, so
// a typo never trains with a silent default.
//
//   {
//     "model": { "frames": 16, "height": 32, "width": 32, "unet": {...}, "text_encoder": {...},
//                "diffusion": {...}, "sampling": {...} },
//     "train": { "batch_size": 16, "steps": 30000, "lr": 1e-3, ... }
//   }
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vdm/io/json.h"
#include "vdm/train/text_video_model.h"

namespace vdm::train {

struct TrainConfig {
  int64_t batch_size = 16;
  int64_t steps = 30000;  // total optimizer steps; the learning-rate schedule spans them
  // AdamW (Loshchilov & Hutter 2019, arXiv:1711.05101). A small model in pixel space takes a
  // large rate; beta2 0.99 adapts faster than 0.999 on a short run.
  double lr = 1e-3;            // peak, reached at the end of warmup
  int64_t warmup_steps = 500;  // linear from lr / warmup_steps
  double final_lr_fraction = 0.1;  // cosine decay from lr down to lr * this at the last step
  double beta1 = 0.9, beta2 = 0.99;
  double adam_eps = 1e-8;
  double weight_decay = 0.01;  // on matrices and embeddings only (dim >= 2), not biases or norms
  double grad_clip = 1.0;      // max global L2 norm of the gradient; 0: no clipping
  // EMA of the weights, with the warmup of the decay used by many diffusion codebases:
  // decay_n = min(ema_decay, (1 + n) / (10 + n)) after n updates, so early averages are short.
  double ema_decay = 0.999;
  double caption_dropout = 0.1;  // fraction of items trained with the null embedding (CFG)
  // Compute type: "f32", or "bf16" autocast (weights, optimizer and EMA stay float32; matrix
  // products and convolutions run in bfloat16). bf16 needs a GPU or a CPU with AVX512-BF16/AMX.
  std::string precision = "f32";
  bool gradient_checkpointing = false;  // U-Net: recompute activations in backward (memory)
  uint64_t seed = 0;                    // data stream, initial weights, t/noise/dropout draws
  int64_t checkpoint_every = 1000;      // steps; also one at the end
  int64_t keep_checkpoints = 3;         // the newest K are kept
  int64_t log_every = 1;                // train.jsonl line every N steps
  int64_t plot_every = 200;             // redraw loss.png every N steps (and at the end)
  // A step whose loss or gradient is NaN/Inf is skipped (no update); this many in a row stop
  // the run with an error (the weights have stopped learning). 0: never stop.
  int64_t max_skipped_in_a_row = 20;
  // Fine-tuning: a model file or training checkpoint (its EMA weights) whose weights replace
  // the fresh ones. Every tensor in it must match one of the model by name and shape; the
  // model's tensors it lacks (a part the config adds) keep their fresh initialisation.
  std::string init;
  // Tensors of the init file to leave out, by name substring: the parts a fine-tune replaces
  // (frame_position "relative" -> "sinusoidal" drops "rel_pos_bias"). Each entry must match
  // at least one tensor of the file; every other tensor must still fit the model.
  std::vector<std::string> init_drop;
  // Timestep bias (diffusion/loss.h): this fraction of each batch draws its noise level t from
  // [t_bias_begin, t_bias_end] instead of [0, 1] (t = 1: pure noise). A fine-tune that must
  // change what the model decides early in sampling (where an object goes) trains there.
  double t_bias_fraction = 0.0;
  double t_bias_begin = 0.0, t_bias_end = 1.0;

  void validate() const;  // throws vdm::Error naming the field
  io::Json to_json() const;
  static TrainConfig from_json(const io::Json& json);
};

struct RunConfig {
  TextVideoConfig model;
  TrainConfig train;

  io::Json to_json() const;
  static RunConfig from_json(const io::Json& json);
  static RunConfig from_file(const std::string& path);  // errors name the file
};

}  // namespace vdm::train
