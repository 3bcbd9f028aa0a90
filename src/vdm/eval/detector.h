// An analytic detector for `moving-shapes` clips (data/moving_shapes.h): reads each object's
// colour, shape and motion direction from the pixels, and whether it stays present and
// stable, so generated clips can be scored against their prompts without a learned model.
//
//   auto det = vdm::eval::detect(clip);            // clip: [3, F, H, W] in [-1, 1]
//   det.objects[0].colour;                         // "red"
//   det.objects[0].shape;                          // "circle"
//   det.objects[0].direction;                      // "up-left", or "none" when it stays put
//
// How (no knowledge of the background kind is needed):
// 1. Background: the per-frame, per-channel median colour b (objects cover well under half
//    of a frame; textures are low contrast around their base colour).
// 2. Pixel clustering against the palette: a pixel p of an object of colour c over background
//    b is p = b + alpha (c - b) (the renderer blends; a model's output roughly does). For each
//    palette colour, alpha is p's projection on the line from b to c and the residual its
//    distance from that line; the pixel takes the colour with the smallest residual, and
//    counts as object when alpha >= 0.5 (at least half covered, so the mask matches the
//    shape's area), the residual is small and p is clearly away from b. Anti-aliased edges
//    stay with their own colour instead of looking like a darker neighbour in the palette.
// 3. Objects: each palette colour with enough pixels over the clip is one object (a second
//    object needs >= 20% of the first's pixels); in each frame the object is the largest
//    8-connected component of its colour, which drops stray pixels.
// 4. Shape, from the object's coverage (alpha, soft edges included) summed over rows and
//    over columns, medians over frames. Triangle: the row sums are skewed (the set's
//    triangles point up, so mass piles up at the base: skewness -0.57; circles and squares
//    0). Otherwise square or circle by fill = area / (largest row sum * largest column sum),
//    1 for a square and pi/4 for a circle. Blur moves coverage but keeps its total, so both
//    measures hold up on the soft edges of generated clips, where a thresholded mask's
//    bounding-box fill ratio does not (a blurred square loses its corners).
// 5. Direction: least-squares velocity of the centroid over the first half of the frames
//    (the set guarantees straight motion there; later frames may bounce), cut into eight 45
//    degree sectors, or "none" below a dead zone.
// 6. Temporal consistency: present in a frame = a component of the colour of at least
//    min_area_fraction of the frame; stable = present with area within size_tolerance of the
//    clip's median area (a colour change makes the object absent in those frames).
//
// Scope: single-object clips are the target (the acceptance measure). Two objects are found
// when their colours differ (always so in moving-shapes); two objects of one colour read as
// one, and overlapping objects can hide each other's shape.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vdm::eval {

struct DetectorOptions {
  // Minimum RGB distance (colours in [0, 1]) from the background: above texture contrast
  // (<= 0.08 per channel in moving-shapes) and below half the palette's distance (>= 0.6).
  double min_background_distance = 0.25;
  double min_alpha = 0.5;     // coverage for a pixel to count (see step 2)
  double max_residual = 0.3;  // off-palette tolerance: generated colours are not exact
  int max_objects = 2;
  double second_object_fraction = 0.2;  // pixels of a further object / pixels of the first
  double min_area_fraction = 0.01;      // of H * W; a moving-shapes object is >= 3.9%
  double size_tolerance = 0.35;         // relative deviation from the median area
  // Slowest motion with a direction, in pixels per frame as a fraction of min(H, W); the set
  // moves at >= 0.018.
  double dead_zone = 0.004;
  // Shape cuts (step 4), halfway between the ideal values: triangle when skew <=
  // triangle_skew, else square when fill >= square_fill, else circle.
  double triangle_skew = -0.28;
  double square_fill = 0.89;
};

struct DetectedObject {
  std::string colour;                            // a palette name (data/moving_shapes_vocab.h)
  std::string shape;                             // "circle", "square" or "triangle"
  std::string direction;                         // a direction name, or "none"
  int64_t pixels = 0;                            // object pixels of this colour over the whole clip
  double fill_ratio = 0;                         // median over present frames (step 4)
  double skew = 0;                               // median over present frames (step 4)
  std::array<double, 2> velocity{};              // pixels per frame (x right, y down), first half
  std::vector<std::array<double, 2>> centroids;  // per frame (x, y); NaN where absent
  std::vector<double> areas;                     // per frame, pixels (0 where absent)
  std::vector<bool> present, stable;             // per frame
  double present_fraction() const;
  double stable_fraction() const;
};

struct Detection {
  std::vector<DetectedObject> objects;  // most pixels first; empty when nothing was found
};

// Least-squares velocity (pixels per frame) of the object's centroid over the frames
// [begin, end) where it is present; none when fewer than two are.
std::optional<std::array<double, 2>> centroid_velocity(const DetectedObject& o, int64_t begin, int64_t end);

// The direction name of a velocity (pixels per frame, x right, y down): one of eight 45-degree
// sectors, or "none" when its speed is below dead_zone (pixels per frame).
std::string direction_of(double vx, double vy, double dead_zone);

// clip: [3, F, H, W] in [-1, 1], any float dtype and device. Throws vdm::Error on other shapes.
Detection detect(const torch::Tensor& clip, const DetectorOptions& options = {});

}  // namespace vdm::eval
