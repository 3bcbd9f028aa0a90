// Scores for conditional generation (pipelines/extend_interpolate.h) on moving-shapes clips,
// read by the analytic detector (eval/detector.h):
//
// - extension: the object of the new frames is the given frames' object (colour and shape of
//   the caption) and moves in the direction it moved in the given frames: the least-squares
//   velocity over the last `span` given frames and over the first `span` new frames fall in
//   the same 45-degree sector;
// - interpolation: each new frame's object centroid lies between those of the given frames
//   around it: its projection on the segment between them falls within [-tol, 1 + tol] of
//   it and its distance from the segment's line is at most `max_offset_px` (when the object
//   barely moves between them, within max_offset_px of the first).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vdm/eval/detector.h"

namespace vdm::eval {

struct ExtensionScore {
  bool found = false;                      // an object in the new frames
  bool colour = false, shape = false;      // as the caption says
  bool direction = false;                  // new frames' direction == given frames' direction
  std::string given_direction, new_direction;
};

// clip: [3, F, H, W], its first `given` frames were given; caption: the given clip's.
ExtensionScore score_extension(const torch::Tensor& clip, int64_t given, const std::string& caption,
                               int64_t span = 8, const DetectorOptions& options = {});

struct InterpolationScore {
  int64_t new_frames = 0;  // frames made (not at multiples of factor)
  int64_t between = 0;     // of which lie between their neighbours
  int64_t missing = 0;     // of which show no object
  bool all_between() const { return new_frames > 0 && between == new_frames; }
};

struct InterpolationTolerance {
  double along = 0.25;         // projection in [-along, 1 + along]
  double max_offset_px = 1.5;  // distance from the segment's line, and "barely moves" radius
};

// clip: [3, F, H, W] whose frames 0, factor, 2 factor, ... were given.
InterpolationScore score_interpolation(const torch::Tensor& clip, int64_t factor,
                                       const InterpolationTolerance& tolerance = {},
                                       const DetectorOptions& options = {});

}  // namespace vdm::eval
