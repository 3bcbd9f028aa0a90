// A user's own clips as a text-to-video data set: a folder with a JSON-lines caption file
//
//   DIR/captions.jsonl    {"file": "clip.mp4", "caption": "a dog running on a beach"}
//                         {"file": "more/clip2.gif", "caption": "..."}
//   DIR/clip.mp4, DIR/more/clip2.gif, ...
//
//   vdm::data::VideoFolder folder("DIR", {.frames = 16, .height = 32, .width = 32});
//   auto clip = folder.load(0);       // [3, 16, 32, 32] in [-1, 1]
//   folder.entry(0).caption;
//
// The caption file is read and checked when the folder is opened: one JSON object per line
// (blank lines are skipped; keys besides "file" and "caption" are ignored, so metadata may
// ride along), "file" a relative path to an existing .mp4/.webm/.mov/.mkv/.gif inside the
// folder (absolute paths, ".." and symlinks leading out are errors: the caption file is
// untrusted input), "caption" a non-empty string. Errors name the line and the problem.
//
// Clips are decoded on each load (nothing is cached) through io::read_video, with its caps
// (pixels, frames, wall-clock deadline). A clip gives its FIRST `frames` frames, at `fps`
// when set (native rate otherwise), scaled to cover height x width with the aspect ratio
// kept, then centre-cropped.
//
// Short clips: a clip with fewer than `frames` frames is an error naming the file and both
// counts, unless pad_short_clips repeats its last frame. Error is the default because a
// padded clip shows motion stopping, which a model would learn as part of the caption.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vdm/data/dataset.h"

namespace vdm::data {

struct VideoFolderOptions {
  int64_t frames = 16;  // the shipped model's clip shape
  int64_t height = 32;
  int64_t width = 32;
  double fps = 0;                    // > 0: resample to this rate; 0: the clip's native rate
  bool pad_short_clips = false;      // see "Short clips" above
  int64_t max_pixels = 4096 * 4096;  // per source frame (io::VideoReadOptions)
  double deadline_s = 30.0;          // per clip
  std::string captions_file = "captions.jsonl";
};

struct VideoFolderEntry {
  std::string path;  // absolute, canonical, inside the folder
  std::string file;  // as written in the caption file
  std::string caption;
  int64_t line = 0;  // 1-based line of the caption file
};

class VideoFolder : public VideoDataset {
 public:
  // Reads and validates DIR/<captions_file>; throws vdm::Error on the first problem.
  explicit VideoFolder(const std::string& folder, VideoFolderOptions options = {});

  int64_t clips() const { return static_cast<int64_t>(entries_.size()); }
  const VideoFolderEntry& entry(int64_t index) const;
  // Decodes clip `index`: [3, frames, height, width] float32 in [-1, 1].
  torch::Tensor load(int64_t index) const;

  std::optional<int64_t> size() const override { return clips(); }
  VideoBatch batch(const std::vector<int64_t>& indices) const override;
  std::array<int64_t, 3> clip_shape() const override;
  std::string describe() const override;

  const VideoFolderOptions& options() const { return options_; }

 private:
  std::string folder_;
  VideoFolderOptions options_;
  std::vector<VideoFolderEntry> entries_;
};

}  // namespace vdm::data
