// `moving-shapes`: a procedural, deterministic text-to-video set. Each clip shows one or two
// flat shapes (circle, square, triangle) in palette colours, moving in one of eight
// directions over a dark plain or low-contrast textured background, with a caption that says
// what is drawn: "a red circle moving left and a blue square moving up-right".
//
//   vdm::data::MovingShapes shapes;                        // 16 frames of 32x32
//   auto clip = shapes.train_sample(/*seed=*/7, /*index=*/0);
//   clip.frames;   // [3, 16, 32, 32] float32 in [-1, 1]
//   clip.caption;  // "a yellow square moving down-left"
//   auto batch = shapes.train_batch(7, {0, 1, 2, 3});      // frames [4, 3, 16, 32, 32]
//   auto test = shapes.held_out_sample(0);                  // the fixed evaluation split
//
// Determinism: sample i of the stream seeded s is a pure function of (options, s, i), drawn
// from a std::mt19937_64 seeded with a hash of (split, s, i) through portable_random.h and
// rendered by plain loops, so it is bit-identical across thread counts and runs, and resume
// restores the data position by index alone. The held-out split hashes with the top bit of
// the generator seed set and training with it clear, so no held-out clip is ever a training
// clip, whatever the training seed.
//
// Motion: an object keeps its speed; at a border the velocity component normal to it
// reverses (a bounce). The caption always names the initial direction. Start positions are
// drawn so that the object goes straight for the whole clip, except for a fraction
// (free_start_fraction, 15%) that are only guaranteed the first half straight, so a few
// clips bounce in their second half: at the defaults about 7% of objects bounce. "Straight for
// the first half" holds whenever half the path fits in the free space (speed * (F - 1) / 2 <=
// extent - size), which at the default sizes and speeds is every clip up to 43 frames; in
// longer clips an object may cross the whole frame and bounce within the first half. The
// detector reads direction from the first half for this reason.
//
// Two objects always have different colours (so the caption tells them apart) and their
// bounding boxes never overlap in any frame: start positions are redrawn (up to 256 tries,
// with a new direction for the second object every 8) until they stay apart, and a clip
// where no try works keeps only its first object (about 7% of two-object draws at 32x32, so
// 23% of default clips show two objects).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vdm/data/dataset.h"
#include "vdm/data/moving_shapes_vocab.h"

namespace vdm::data {

struct MovingShapesOptions {
  int64_t frames = 16;  // the shipped model's clip length
  int64_t height = 32;  // smallest size where a triangle still reads as a triangle
  int64_t width = 32;
  int max_objects = 2;                // 1 or 2
  double two_object_fraction = 0.25;  // of clips, when max_objects == 2: mostly single objects,
                                      // which small models learn first
  double textured_fraction = 0.5;     // noise, stripes or checker; the rest plain
  // Object size (square side, circle diameter, triangle base and height) as a fraction of
  // min(height, width): 9 to 11.5 pixels at 32x32, large enough for the shape to show.
  double size_min = 0.28, size_max = 0.36;
  // Speed in pixels per frame as a fraction of min(height, width): 0.58 to 0.96 pixels per
  // frame at 32x32, so 16 frames travel 9 to 14 pixels, which fits in the free space.
  double speed_min = 0.018, speed_max = 0.03;
  double free_start_fraction = 0.15;  // see "Motion" above
};

enum class BackgroundKind { kPlain = 0, kNoise, kStripes, kChecker };
const std::vector<std::string>& background_names();  // "plain", "noise", "stripes", "checker"

// Ground truth for one object.
struct ObjectTrack {
  int colour = 0, shape = 0, direction = 0;  // indices into the vocabulary lists
  ObjectCaption caption() const;             // the names
  double size = 0;                           // pixels (see MovingShapesOptions::size_min)
  double speed = 0;                          // pixels per frame
  // Per frame: centre of the object's bounding box (x, y) in pixels, where pixel (row r,
  // column c) has its centre at (c, r) and y grows downward.
  std::vector<std::array<double, 2>> centres;
  bool bounced = false;  // it hits a border at some point within the clip
};

struct MovingShapesSample {
  torch::Tensor frames;  // [3, F, H, W] float32 in [-1, 1]
  std::string caption;
  std::vector<ObjectTrack> objects;  // drawing order (the last is on top)
  BackgroundKind background = BackgroundKind::kPlain;
  std::array<float, 3> background_rgb{};  // the base colour, in [0, 1]
};

struct MovingShapesBatch {
  torch::Tensor frames;                           // [B, 3, F, H, W] float32 in [-1, 1]
  std::vector<std::string> captions;              // B
  std::vector<std::vector<ObjectTrack>> objects;  // B, ground truth
};

class MovingShapes {
 public:
  // Throws vdm::Error for options out of range (naming the option, value and range).
  explicit MovingShapes(MovingShapesOptions options = {});

  // Sample `index` (>= 0) of the endless training stream seeded `seed`.
  MovingShapesSample train_sample(uint64_t seed, int64_t index) const;
  // Sample `index` (>= 0) of the fixed held-out split (the same for every training seed).
  MovingShapesSample held_out_sample(int64_t index) const;

  MovingShapesBatch train_batch(uint64_t seed, const std::vector<int64_t>& indices) const;
  MovingShapesBatch held_out_batch(const std::vector<int64_t>& indices) const;

  const MovingShapesOptions& options() const { return options_; }

 private:
  MovingShapesSample make_sample(bool held_out, uint64_t seed, int64_t index) const;
  MovingShapesBatch make_batch(bool held_out, uint64_t seed,
                               const std::vector<int64_t>& indices) const;
  MovingShapesOptions options_;
};

// The training stream seeded `seed` as a VideoDataset (endless: size() is nullopt), which is
// how the trainer and open_dataset("synthetic:moving-shapes") see it.
class MovingShapesStream : public VideoDataset {
 public:
  MovingShapesStream(MovingShapesOptions options, uint64_t seed) : shapes_(options), seed_(seed) {}
  std::optional<int64_t> size() const override { return std::nullopt; }
  VideoBatch batch(const std::vector<int64_t>& indices) const override;
  std::array<int64_t, 3> clip_shape() const override;
  std::string describe() const override;
  const MovingShapes& shapes() const { return shapes_; }

 private:
  MovingShapes shapes_;
  uint64_t seed_;
};

}  // namespace vdm::data
