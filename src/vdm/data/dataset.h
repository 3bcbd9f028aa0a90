// The interface the trainer reads clips through, whatever their source: the procedural
// `moving-shapes` set (an endless stream) or a user's folder of clips (a finite set).
//
//   auto data = vdm::data::open_dataset("synthetic:moving-shapes", {.seed = 7});
//   auto idx = vdm::data::training_indices(data->size(), 7, /*position=*/0, /*count=*/16);
//   auto batch = data->batch(idx);   // batch.frames: [16, 3, F, H, W]
//
// Resume is exact because the data position is one integer: the number of examples consumed.
// training_indices() maps it to example indices as a pure function of (size, seed, position).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vdm::data {

struct VideoBatch {
  torch::Tensor frames;               // [B, 3, F, H, W] float32 in [-1, 1]
  std::vector<std::string> captions;  // B captions
};

class VideoDataset {
 public:
  virtual ~VideoDataset() = default;
  // Examples in one epoch; std::nullopt for an endless stream.
  virtual std::optional<int64_t> size() const = 0;
  // Examples `indices` (each >= 0, and < size() when finite) stacked into one batch.
  virtual VideoBatch batch(const std::vector<int64_t>& indices) const = 0;
  // Frame count, height and width of every example.
  virtual std::array<int64_t, 3> clip_shape() const = 0;
  // A short description for logs ("moving-shapes 16x32x32 seed 7", "folder DIR (120 clips)").
  virtual std::string describe() const = 0;
};

// What open_dataset needs to know besides the spec.
struct DatasetOptions {
  int64_t frames = 16;  // the shipped model's clip length
  int64_t height = 32;  // and frame size
  int64_t width = 32;
  uint64_t seed = 0;  // the synthetic stream's seed
  double fps = 0;     // folder clips: > 0 resamples to this rate; 0 keeps the native rate
};

// "synthetic:moving-shapes" or "folder:DIR". Throws vdm::Error listing the accepted forms.
std::unique_ptr<VideoDataset> open_dataset(const std::string& spec,
                                           const DatasetOptions& options = {});

// The example indices for training positions [position, position + count).
// Endless sets (size == nullopt): the positions themselves. Finite sets: position p falls in
// epoch p / size, and each epoch is its own permutation of [0, size), drawn from
// (seed, epoch) with a portable Fisher-Yates shuffle (not std::shuffle, whose draws differ
// between standard libraries).
std::vector<int64_t> training_indices(std::optional<int64_t> size, uint64_t seed, int64_t position,
                                      int64_t count);

}  // namespace vdm::data
