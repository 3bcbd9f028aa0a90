#include "vdm/data/dataset.h"

#include <random>

#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/data/portable_random.h"
#include "vdm/data/video_folder.h"

namespace vdm::data {

std::unique_ptr<VideoDataset> open_dataset(const std::string& spec, const DatasetOptions& options) {
  const std::string kSynthetic = "synthetic:", kFolder = "folder:";
  if (spec.rfind(kSynthetic, 0) == 0) {
    const std::string name = spec.substr(kSynthetic.size());
    VDM_CHECK(name == "moving-shapes",
              "data \"{}\": unknown synthetic set \"{}\"; known: moving-shapes", spec, name);
    MovingShapesOptions o;
    o.frames = options.frames, o.height = options.height, o.width = options.width;
    return std::make_unique<MovingShapesStream>(o, options.seed);
  }
  if (spec.rfind(kFolder, 0) == 0) {
    const std::string dir = spec.substr(kFolder.size());
    VDM_CHECK(!dir.empty(), "data \"{}\": folder: needs a path, e.g. folder:clips/", spec);
    VideoFolderOptions o;
    o.frames = options.frames, o.height = options.height, o.width = options.width;
    o.fps = options.fps;
    return std::make_unique<VideoFolder>(dir, o);
  }
  throw Error(fmt::format("data \"{}\": expected synthetic:moving-shapes or folder:DIR", spec));
}

std::vector<int64_t> training_indices(std::optional<int64_t> size, uint64_t seed, int64_t position,
                                      int64_t count) {
  VDM_CHECK(position >= 0 && count >= 0, "training_indices: position {} and count {} must be >= 0",
            position, count);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(count));
  if (!size) {
    for (int64_t i = 0; i < count; ++i) out.push_back(position + i);
    return out;
  }
  const int64_t n = *size;
  VDM_CHECK(n >= 1, "training_indices: a finite data set needs at least one example, got {}", n);
  std::vector<int64_t> perm;
  int64_t epoch = -1;
  for (int64_t p = position; p < position + count; ++p) {
    if (p / n != epoch) {  // a new epoch: its own permutation
      epoch = p / n;
      perm.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
      std::mt19937_64 rng(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch))));
      for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
        std::swap(perm[static_cast<size_t>(i)],
                  perm[uniform_below(rng, static_cast<uint64_t>(i) + 1)]);
    }
    out.push_back(perm[static_cast<size_t>(p % n)]);
  }
  return out;
}

}  // namespace vdm::data
