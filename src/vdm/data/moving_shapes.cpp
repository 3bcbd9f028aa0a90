#include "vdm/data/moving_shapes.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "vdm/core/error.h"
#include "vdm/data/portable_random.h"

namespace vdm::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr uint64_t kHeldOutBit = 1ull << 63;
constexpr uint64_t kStreamDomain = 0x6d6f76696e67ull;  // "moving": separates from other users
constexpr int kPlacementTries = 256;
constexpr int kRedirectTries = 8;

// Dark backgrounds, channels <= 0.22; with texture amplitude <= 0.08 every background pixel
// stays <= 0.3 per channel, far from every palette colour (each has a channel >= 0.9).
constexpr std::array<std::array<float, 3>, 7> kBackgrounds = {{
    {0.02f, 0.02f, 0.02f},  // black
    {0.16f, 0.16f, 0.17f},  // charcoal
    {0.04f, 0.06f, 0.22f},  // navy
    {0.04f, 0.17f, 0.08f},  // forest
    {0.21f, 0.13f, 0.06f},  // brown
    {0.17f, 0.06f, 0.16f},  // plum
    {0.03f, 0.15f, 0.17f},  // teal
}};

// The generator seed of one sample; the top bit says which split it belongs to.
uint64_t sample_key(bool held_out, uint64_t seed, int64_t index) {
  const uint64_t key = splitmix64(splitmix64(seed ^ kStreamDomain) ^ static_cast<uint64_t>(index));
  return held_out ? (key | kHeldOutBit) : (key & ~kHeldOutBit);
}

// Texture parameters; drawn whatever the kind, so the draws after them do not shift.
struct Texture {
  BackgroundKind kind = BackgroundKind::kPlain;
  double amplitude = 0;  // in [0, 1] colour units
  double period = 0;     // stripes, pixels
  double angle = 0, phase = 0;
  double cell = 0;          // checker and noise lattice, pixels
  uint64_t noise_seed = 0;  // value-noise lattice
};

struct Scene {
  std::vector<ObjectTrack> objects;
  Texture texture;
  std::array<float, 3> background{};
};

// Position after travelling `x - lo` along a segment [lo, lo + span] with reflecting ends.
double reflect(double x, double lo, double span) {
  if (span <= 0) return lo;
  double m = std::fmod(x - lo, 2 * span);
  if (m < 0) m += 2 * span;
  return lo + (m <= span ? m : 2 * span - m);
}

// Draws the start position along one axis and fills that coordinate of every frame.
// `straight_steps`: frames the object must travel without touching a border (when it fits).
void place_axis(double extent, double r, double v, int64_t frames, int64_t straight_steps, double u,
                int axis, ObjectTrack& track) {
  const double lo = r - 0.5, hi = extent - 0.5 - r;  // centre range keeping the box inside
  const double span = hi - lo;
  const double travel = std::min(std::abs(v) * static_cast<double>(straight_steps), span);
  const double a = v > 0 ? lo : lo + travel;
  const double b = v > 0 ? hi - travel : hi;
  const double c0 = a + u * (b - a);
  for (int64_t t = 0; t < frames; ++t) {
    const double free_x = c0 + v * static_cast<double>(t);
    if (free_x < lo - 1e-9 || free_x > hi + 1e-9) track.bounced = true;
    track.centres[static_cast<size_t>(t)][static_cast<size_t>(axis)] = reflect(free_x, lo, span);
  }
}

bool boxes_overlap(const ObjectTrack& a, const ObjectTrack& b) {
  const double gap = 0.5 * (a.size + b.size) + 1.0;  // one free pixel between the boxes
  for (size_t t = 0; t < a.centres.size(); ++t) {
    if (std::abs(a.centres[t][0] - b.centres[t][0]) < gap &&
        std::abs(a.centres[t][1] - b.centres[t][1]) < gap)
      return true;
  }
  return false;
}

Scene sample_scene(const MovingShapesOptions& o, uint64_t key) {
  std::mt19937_64 rng(key);
  Scene scene;
  const double m = static_cast<double>(std::min(o.height, o.width));

  // The draws up to the objects' start positions happen whatever the options (the texture
  // parameters even for a plain background), so the same index keeps its background and
  // first object's colour, shape and direction when, say, max_objects or textured_fraction
  // change.
  const bool two = bernoulli(rng, o.two_object_fraction);
  const int n_objects = (o.max_objects >= 2 && two) ? 2 : 1;

  const bool textured = bernoulli(rng, o.textured_fraction);
  const auto texture_kind = 1 + static_cast<int>(uniform_below(rng, 3));
  scene.texture.kind =
      textured ? static_cast<BackgroundKind>(texture_kind) : BackgroundKind::kPlain;
  scene.background = kBackgrounds[uniform_below(rng, kBackgrounds.size())];
  scene.texture.amplitude = uniform(rng, 0.04, 0.08);  // low contrast: texture, not objects
  scene.texture.period = std::max(3.0, uniform(rng, 0.15, 0.3) * m);
  scene.texture.angle = uniform(rng, 0, kPi);
  scene.texture.phase = uniform(rng, 0, 2 * kPi);
  scene.texture.cell = std::max(2.0, uniform(rng, 0.1, 0.2) * m);
  scene.texture.noise_seed = rng();

  std::vector<int> free_colours(palette().size());
  for (size_t i = 0; i < free_colours.size(); ++i) free_colours[i] = static_cast<int>(i);
  const auto straight_all = std::max<int64_t>(o.frames - 1, 0);
  const auto straight_half = (straight_all + 1) / 2;

  struct Motion {
    double vx, vy;
    int64_t straight;  // steps guaranteed free of bounces
  };
  auto motion_of = [&](const ObjectTrack& track, bool free_start) {
    const auto step = direction_step(track.direction);
    const double norm = std::hypot(step[0], step[1]);  // same speed on diagonals
    return Motion{track.speed * step[0] / norm, track.speed * step[1] / norm,
                  free_start ? straight_half : straight_all};
  };
  std::vector<Motion> motions;
  for (int k = 0; k < n_objects; ++k) {
    ObjectTrack track;
    const auto c = uniform_below(rng, free_colours.size());
    track.colour = free_colours[c];
    free_colours.erase(free_colours.begin() + static_cast<std::ptrdiff_t>(c));
    track.shape = static_cast<int>(uniform_below(rng, shape_names().size()));
    track.direction = static_cast<int>(uniform_below(rng, direction_names().size()));
    track.size = uniform(rng, o.size_min, o.size_max) * m;
    track.speed = uniform(rng, o.speed_min, o.speed_max) * m;
    const bool free_start = bernoulli(rng, o.free_start_fraction);
    motions.push_back(motion_of(track, free_start));
    scene.objects.push_back(std::move(track));
  }

  // Start positions: redrawn together until no two bounding boxes come closer than a pixel
  // in any frame. Crossing paths (one object moving across the other's) often cannot be kept
  // apart in a small frame, so every kRedirectTries failed tries the second object also gets
  // a new direction; two-object clips thus lean towards compatible directions. Should every
  // try fail (rare), the clip keeps only its first object, so objects never overlap and the
  // caption stays true.
  bool apart = false;
  for (int attempt = 0; attempt < kPlacementTries && !apart; ++attempt) {
    if (scene.objects.size() == 2 && attempt > 0 && attempt % kRedirectTries == 0) {
      auto& second = scene.objects[1];
      second.direction = static_cast<int>(uniform_below(rng, direction_names().size()));
      motions[1] = motion_of(second, motions[1].straight == straight_half);
    }
    for (size_t k = 0; k < scene.objects.size(); ++k) {
      auto& track = scene.objects[k];
      const double ux = uniform01(rng), uy = uniform01(rng);
      const double r = 0.5 * track.size;
      track.centres.assign(static_cast<size_t>(o.frames), {0.0, 0.0});
      track.bounced = false;
      place_axis(static_cast<double>(o.width), r, motions[k].vx, o.frames, motions[k].straight, ux,
                 0, track);
      place_axis(static_cast<double>(o.height), r, motions[k].vy, o.frames, motions[k].straight, uy,
                 1, track);
    }
    apart = scene.objects.size() < 2 || !boxes_overlap(scene.objects[0], scene.objects[1]);
  }
  if (!apart) scene.objects.resize(1);
  return scene;
}

// The static background, [3, H, W] in [0, 1].
void render_background(const Scene& scene, int64_t H, int64_t W, float* plane) {
  const Texture& tx = scene.texture;
  std::vector<float> lattice;  // value noise: random values on a grid of `cell` pixels
  int64_t lw = 0;
  if (tx.kind == BackgroundKind::kNoise) {
    const int64_t lh = static_cast<int64_t>(static_cast<double>(H) / tx.cell) + 2;
    lw = static_cast<int64_t>(static_cast<double>(W) / tx.cell) + 2;
    std::mt19937_64 rng(tx.noise_seed);
    lattice.resize(static_cast<size_t>(lh * lw));
    for (auto& v : lattice) v = static_cast<float>(uniform(rng, -1, 1));
  }
  const double ca = std::cos(tx.angle), sa = std::sin(tx.angle);
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      double t = 0;  // texture value in [-1, 1]
      const double fx = static_cast<double>(x), fy = static_cast<double>(y);
      switch (tx.kind) {
        case BackgroundKind::kPlain:
          break;
        case BackgroundKind::kStripes:
          t = std::sin(2 * kPi * (fx * ca + fy * sa) / tx.period + tx.phase);
          break;
        case BackgroundKind::kChecker: {
          const auto i = static_cast<int64_t>(std::floor(fx / tx.cell));
          const auto j = static_cast<int64_t>(std::floor(fy / tx.cell));
          t = ((i + j) & 1) ? 1.0 : -1.0;
          break;
        }
        case BackgroundKind::kNoise: {  // bilinear value noise
          const double gx = fx / tx.cell, gy = fy / tx.cell;
          const auto i = static_cast<int64_t>(gx), j = static_cast<int64_t>(gy);
          const double ax = gx - static_cast<double>(i), ay = gy - static_cast<double>(j);
          auto at = [&](int64_t jj, int64_t ii) {
            return lattice[static_cast<size_t>(jj * lw + ii)];
          };
          t = (1 - ay) * ((1 - ax) * at(j, i) + ax * at(j, i + 1)) +
              ay * ((1 - ax) * at(j + 1, i) + ax * at(j + 1, i + 1));
          break;
        }
      }
      for (int ch = 0; ch < 3; ++ch) {
        const double v = scene.background[static_cast<size_t>(ch)] + tx.amplitude * t;
        plane[(ch * H + y) * W + x] = static_cast<float>(std::clamp(v, 0.0, 1.0));
      }
    }
  }
}

// Signed distance (pixels, negative inside) from (dx, dy), relative to the box centre, to
// the shape of half-size r. The triangle points up: apex (0, -r), base corners (+-r, r);
// for it and the square this is the max of the edge-line distances, exact along the edges
// (which is what the 1-pixel anti-aliasing ramp needs) and approximate at the corners.
// `shape` indexes shape_names(): circle, square, triangle.
double shape_sdf(int shape, double dx, double dy, double r) {
  switch (shape) {
    case 0:
      return std::hypot(dx, dy) - r;  // circle
    case 1:
      return std::max(std::abs(dx), std::abs(dy)) - r;  // square
    default: {                                          // triangle
      constexpr double kInvSqrt5 = 0.44721359549995793;
      const double edge = (2 * std::abs(dx) - (dy + r)) * kInvSqrt5;  // both slanted sides
      return std::max(dy - r, edge);
    }
  }
}

// Renders one clip into `out`, [3, F, H, W] in [-1, 1].
void render_scene(const Scene& scene, const MovingShapesOptions& o, float* out) {
  const int64_t F = o.frames, H = o.height, W = o.width, HW = H * W;
  std::vector<float> background(static_cast<size_t>(3 * HW));
  render_background(scene, H, W, background.data());
  for (int64_t f = 0; f < F; ++f) {
    float* planes[3];
    for (int ch = 0; ch < 3; ++ch) {
      planes[ch] = out + (ch * F + f) * HW;
      std::copy_n(background.data() + ch * HW, HW, planes[ch]);
    }
    for (const auto& obj : scene.objects) {
      const auto& rgb = palette()[static_cast<size_t>(obj.colour)].rgb;
      const double r = 0.5 * obj.size;
      const double cx = obj.centres[static_cast<size_t>(f)][0];
      const double cy = obj.centres[static_cast<size_t>(f)][1];
      const auto x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cx - r - 1)));
      const auto x1 = std::min<int64_t>(W - 1, static_cast<int64_t>(std::ceil(cx + r + 1)));
      const auto y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cy - r - 1)));
      const auto y1 = std::min<int64_t>(H - 1, static_cast<int64_t>(std::ceil(cy + r + 1)));
      for (int64_t y = y0; y <= y1; ++y) {
        for (int64_t x = x0; x <= x1; ++x) {
          const double sdf =
              shape_sdf(obj.shape, static_cast<double>(x) - cx, static_cast<double>(y) - cy, r);
          const float alpha = static_cast<float>(std::clamp(0.5 - sdf, 0.0, 1.0));  // coverage
          if (alpha <= 0.f) continue;
          for (int ch = 0; ch < 3; ++ch) {
            float& p = planes[ch][y * W + x];
            p += alpha * (rgb[static_cast<size_t>(ch)] - p);
          }
        }
      }
    }
  }
  const int64_t n = 3 * F * HW;
  for (int64_t i = 0; i < n; ++i) out[i] = 2.f * out[i] - 1.f;  // [0, 1] -> [-1, 1]
}

std::string caption_of(const Scene& scene) {
  std::vector<ObjectCaption> words;
  for (const auto& obj : scene.objects) words.push_back(obj.caption());
  return format_caption(words);
}

void check_options(const MovingShapesOptions& o) {
  VDM_CHECK(o.frames >= 1 && o.frames <= 65536,
            "moving-shapes: frames must be in [1, 65536], got {}", o.frames);
  VDM_CHECK(o.height >= 8 && o.height <= 8192 && o.width >= 8 && o.width <= 8192,
            "moving-shapes: height and width must be in [8, 8192], got {}x{}", o.height, o.width);
  VDM_CHECK(o.max_objects == 1 || o.max_objects == 2,
            "moving-shapes: max_objects must be 1 or 2, got {}", o.max_objects);
  for (auto [name, v] : {std::pair{"two_object_fraction", o.two_object_fraction},
                         std::pair{"textured_fraction", o.textured_fraction},
                         std::pair{"free_start_fraction", o.free_start_fraction}})
    VDM_CHECK(v >= 0 && v <= 1, "moving-shapes: {} must be in [0, 1], got {}", name, v);
  VDM_CHECK(o.size_min > 0 && o.size_min <= o.size_max && o.size_max <= 0.5,
            "moving-shapes: need 0 < size_min <= size_max <= 0.5 (fractions of the shorter side), "
            "got {} and {}",
            o.size_min, o.size_max);
  VDM_CHECK(o.speed_min >= 0 && o.speed_min <= o.speed_max && o.speed_max <= 1,
            "moving-shapes: need 0 <= speed_min <= speed_max <= 1, got {} and {}", o.speed_min,
            o.speed_max);
}

}  // namespace

const std::vector<std::string>& background_names() {
  static const std::vector<std::string> names = {"plain", "noise", "stripes", "checker"};
  return names;
}

ObjectCaption ObjectTrack::caption() const {
  return {colour_names().at(static_cast<size_t>(colour)),
          shape_names().at(static_cast<size_t>(shape)),
          direction_names().at(static_cast<size_t>(direction))};
}

MovingShapes::MovingShapes(MovingShapesOptions options) : options_(options) {
  check_options(options_);
}

MovingShapesSample MovingShapes::train_sample(uint64_t seed, int64_t index) const {
  return make_sample(false, seed, index);
}

MovingShapesSample MovingShapes::held_out_sample(int64_t index) const {
  return make_sample(true, 0, index);
}

MovingShapesSample MovingShapes::make_sample(bool held_out, uint64_t seed, int64_t index) const {
  VDM_CHECK(index >= 0, "moving-shapes: sample index must be >= 0, got {}", index);
  const auto& o = options_;
  const Scene scene = sample_scene(o, sample_key(held_out, seed, index));
  MovingShapesSample sample;
  sample.frames = torch::empty({3, o.frames, o.height, o.width});  // [3, F, H, W]
  render_scene(scene, o, sample.frames.data_ptr<float>());
  sample.caption = caption_of(scene);
  sample.objects = scene.objects;
  sample.background = scene.texture.kind;
  sample.background_rgb = scene.background;
  return sample;
}

MovingShapesBatch MovingShapes::train_batch(uint64_t seed,
                                            const std::vector<int64_t>& indices) const {
  return make_batch(false, seed, indices);
}

MovingShapesBatch MovingShapes::held_out_batch(const std::vector<int64_t>& indices) const {
  return make_batch(true, 0, indices);
}

MovingShapesBatch MovingShapes::make_batch(bool held_out, uint64_t seed,
                                           const std::vector<int64_t>& indices) const {
  VDM_CHECK(!indices.empty(), "moving-shapes: a batch needs at least one index");
  const auto& o = options_;
  std::vector<Scene> scenes;
  scenes.reserve(indices.size());
  MovingShapesBatch batch;
  for (const int64_t index : indices) {
    VDM_CHECK(index >= 0, "moving-shapes: sample index must be >= 0, got {}", index);
    scenes.push_back(sample_scene(o, sample_key(held_out, seed, index)));
    batch.captions.push_back(caption_of(scenes.back()));
    batch.objects.push_back(scenes.back().objects);
  }
  const auto B = static_cast<int64_t>(indices.size());
  batch.frames = torch::empty({B, 3, o.frames, o.height, o.width});  // [B, 3, F, H, W]
  float* data = batch.frames.data_ptr<float>();
  const int64_t clip_numel = 3 * o.frames * o.height * o.width;
  // Clips are independent, so the split over threads cannot change a single value.
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      render_scene(scenes[static_cast<size_t>(b)], o, data + b * clip_numel);
  });
  return batch;
}

VideoBatch MovingShapesStream::batch(const std::vector<int64_t>& indices) const {
  auto b = shapes_.train_batch(seed_, indices);
  return {b.frames, std::move(b.captions)};
}

std::array<int64_t, 3> MovingShapesStream::clip_shape() const {
  const auto& o = shapes_.options();
  return {o.frames, o.height, o.width};
}

std::string MovingShapesStream::describe() const {
  const auto& o = shapes_.options();
  return fmt::format("moving-shapes {}x{}x{} seed {}", o.frames, o.height, o.width, seed_);
}

}  // namespace vdm::data
