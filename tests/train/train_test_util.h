// A tiny training setup shared by the train and pipeline tests: a few-thousand-parameter
// U-Net and text encoder on 4-frame 16x16 moving-shapes clips, a step in a few milliseconds.
#pragma once
#include <memory>

#include "vdm/data/dataset.h"
#include "vdm/train/config.h"

namespace vdm::train::test {

inline RunConfig tiny_run_config() {
  RunConfig c;
  c.model = TextVideoConfig::tiny();
  c.train.batch_size = 4;
  c.train.steps = 40;
  c.train.lr = 2e-3;
  c.train.warmup_steps = 5;
  c.train.ema_decay = 0.9;
  c.train.checkpoint_every = 1000;
  c.train.seed = 3;
  return c;
}

inline std::shared_ptr<const data::VideoDataset> tiny_data(const RunConfig& c) {
  data::DatasetOptions o;
  o.frames = c.model.frames;
  o.height = c.model.height;
  o.width = c.model.width;
  o.seed = c.train.seed;
  return data::open_dataset("synthetic:moving-shapes", o);
}

}  // namespace vdm::train::test
