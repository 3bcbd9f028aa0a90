#include "vdm/train/config.h"

#include <cmath>

#include "vdm/core/error.h"

namespace vdm::train {

void TrainConfig::validate() const {
  const char* what = "train config";
  VDM_CHECK(batch_size >= 1 && batch_size <= 65536, "{}: batch_size must be in [1, 65536], got {}", what, batch_size);
  VDM_CHECK(steps >= 1, "{}: steps must be >= 1, got {}", what, steps);
  VDM_CHECK(std::isfinite(lr) && lr > 0, "{}: lr must be > 0, got {}", what, lr);
  VDM_CHECK(warmup_steps >= 0, "{}: warmup_steps must be >= 0, got {}", what, warmup_steps);
  VDM_CHECK(final_lr_fraction >= 0 && final_lr_fraction <= 1, "{}: final_lr_fraction must be in [0, 1], got {}",
            what, final_lr_fraction);
  VDM_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "{}: beta1 and beta2 must be in [0, 1), got {} and {}",
            what, beta1, beta2);
  VDM_CHECK(adam_eps > 0, "{}: adam_eps must be > 0, got {}", what, adam_eps);
  VDM_CHECK(weight_decay >= 0, "{}: weight_decay must be >= 0, got {}", what, weight_decay);
  VDM_CHECK(grad_clip >= 0, "{}: grad_clip must be >= 0 (0: off), got {}", what, grad_clip);
  VDM_CHECK(ema_decay >= 0 && ema_decay < 1, "{}: ema_decay must be in [0, 1), got {}", what, ema_decay);
  VDM_CHECK(caption_dropout >= 0 && caption_dropout <= 1, "{}: caption_dropout must be in [0, 1], got {}", what,
            caption_dropout);
  VDM_CHECK(precision == "f32" || precision == "bf16", "{}: precision must be f32 or bf16, got '{}'", what,
            precision);
  VDM_CHECK(checkpoint_every >= 1, "{}: checkpoint_every must be >= 1, got {}", what, checkpoint_every);
  VDM_CHECK(keep_checkpoints >= 1, "{}: keep_checkpoints must be >= 1, got {}", what, keep_checkpoints);
  VDM_CHECK(log_every >= 1, "{}: log_every must be >= 1, got {}", what, log_every);
  VDM_CHECK(plot_every >= 1, "{}: plot_every must be >= 1, got {}", what, plot_every);
  VDM_CHECK(max_skipped_in_a_row >= 0, "{}: max_skipped_in_a_row must be >= 0 (0: never stop), got {}", what,
            max_skipped_in_a_row);
  VDM_CHECK(t_bias_fraction >= 0 && t_bias_fraction <= 1, "{}: t_bias_fraction must be in [0, 1], got {}", what,
            t_bias_fraction);
  VDM_CHECK(t_bias_begin >= 0 && t_bias_begin < t_bias_end && t_bias_end <= 1,
            "{}: need 0 <= t_bias_begin < t_bias_end <= 1, got {} and {}", what, t_bias_begin, t_bias_end);
}

io::Json TrainConfig::to_json() const {
  io::Json j;
  j["batch_size"] = batch_size;
  j["steps"] = steps;
  j["lr"] = lr;
  j["warmup_steps"] = warmup_steps;
  j["final_lr_fraction"] = final_lr_fraction;
  j["beta1"] = beta1;
  j["beta2"] = beta2;
  j["adam_eps"] = adam_eps;
  j["weight_decay"] = weight_decay;
  j["grad_clip"] = grad_clip;
  j["ema_decay"] = ema_decay;
  j["caption_dropout"] = caption_dropout;
  j["precision"] = precision;
  j["gradient_checkpointing"] = gradient_checkpointing;
  j["seed"] = seed;
  j["checkpoint_every"] = checkpoint_every;
  j["keep_checkpoints"] = keep_checkpoints;
  j["log_every"] = log_every;
  j["plot_every"] = plot_every;
  j["max_skipped_in_a_row"] = max_skipped_in_a_row;
  j["init"] = init;
  j["init_drop"] = init_drop;
  j["t_bias_fraction"] = t_bias_fraction;
  j["t_bias_begin"] = t_bias_begin;
  j["t_bias_end"] = t_bias_end;
  return j;
}


TrainConfig TrainConfig::from_json(const io::Json& j) {
  VDM_CHECK(j.is_object(), "train config: expected a JSON object, got {}", j.dump());
  TrainConfig c;
  const auto defaults = c.to_json();
  for (const auto& [key, value] : j.items()) {
    if (!defaults.contains(key)) {
      std::string known;
      for (const auto& [k, v] : defaults.items()) known += (known.empty() ? "" : ", ") + k;
      throw Error(fmt::format("train config: unknown field '{}'; expected one of {}", key, known));
    }
  }
  auto get = [&](const char* key, auto& out) {
    io::read_field(j, key, out, "train config");
  };
  get("batch_size", c.batch_size);
  get("steps", c.steps);
  get("lr", c.lr);
  get("warmup_steps", c.warmup_steps);
  get("final_lr_fraction", c.final_lr_fraction);
  get("beta1", c.beta1);
  get("beta2", c.beta2);
  get("adam_eps", c.adam_eps);
  get("weight_decay", c.weight_decay);
  get("grad_clip", c.grad_clip);
  get("ema_decay", c.ema_decay);
  get("caption_dropout", c.caption_dropout);
  get("precision", c.precision);
  get("gradient_checkpointing", c.gradient_checkpointing);
  get("seed", c.seed);
  get("checkpoint_every", c.checkpoint_every);
  get("keep_checkpoints", c.keep_checkpoints);
  get("log_every", c.log_every);
  get("plot_every", c.plot_every);
  get("max_skipped_in_a_row", c.max_skipped_in_a_row);
  get("init", c.init);
  get("init_drop", c.init_drop);
  get("t_bias_fraction", c.t_bias_fraction);
  get("t_bias_begin", c.t_bias_begin);
  get("t_bias_end", c.t_bias_end);
  c.validate();
  return c;
}

io::Json RunConfig::to_json() const {
  io::Json j;
  j["model"] = model.to_json();
  j["train"] = train.to_json();
  return j;
}

RunConfig RunConfig::from_json(const io::Json& j) {
  VDM_CHECK(j.is_object(), "run config: expected a JSON object with \"model\" and \"train\"");
  for (const auto& [key, value] : j.items()) {
    VDM_CHECK(key == "model" || key == "train" || key == "_comment",
              "run config: unknown field '{}'; expected model, train (and _comment)", key);
  }
  VDM_CHECK(j.contains("model"), "run config: missing field 'model'");
  RunConfig c;
  c.model = TextVideoConfig::from_json(j.at("model"));
  if (j.contains("train")) c.train = TrainConfig::from_json(j.at("train"));
  return c;
}

RunConfig RunConfig::from_file(const std::string& path) {
  const auto json = io::read_json_file(path);
  try {
    return from_json(json);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace vdm::train
