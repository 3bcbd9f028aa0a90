#include "vdm/data/video_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "vdm/core/error.h"
#include "vdm/io/json.h"
#include "vdm/io/video.h"

namespace vdm::data {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxCaptionFileBytes = 64ull * 1024 * 1024;

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// True when `path` is `root` or lies under it (both canonical).
bool inside(const fs::path& path, const fs::path& root) {
  const auto mismatch = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return mismatch.first == root.end();
}

}  // namespace

VideoFolder::VideoFolder(const std::string& folder, VideoFolderOptions options)
    : folder_(folder), options_(std::move(options)) {
  const auto& o = options_;
  VDM_CHECK(o.frames >= 1 && o.height >= 1 && o.width >= 1,
            "video folder {}: frames, height and width must be >= 1, got {}x{}x{}", folder,
            o.frames, o.height, o.width);
  std::error_code ec;
  VDM_CHECK(fs::is_directory(folder, ec), "video folder {}: not a directory", folder);
  const fs::path root = fs::canonical(folder, ec);
  VDM_CHECK(!ec, "video folder {}: cannot resolve the path ({})", folder, ec.message());
  const std::string captions_path = (root / o.captions_file).string();
  VDM_CHECK(fs::is_regular_file(captions_path, ec),
            "video folder {}: no {} (one JSON object per line: "
            "{{\"file\": \"clip.mp4\", \"caption\": \"...\"}})",
            folder, o.captions_file);
  const std::string text = io::read_text_file(captions_path, kMaxCaptionFileBytes);

  int64_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    if (line.empty()) continue;
    const std::string where = fmt::format("{} line {}", captions_path, line_number);
    const io::Json j = io::parse_json(line, where);
    VDM_CHECK(j.is_object(),
              "{}: expected a JSON object {{\"file\": ..., \"caption\": ...}}, got {}", where,
              j.type_name());
    VDM_CHECK(j.contains("file") && j["file"].is_string(),
              "{}: \"file\" must be a string naming a clip in the folder", where);
    VDM_CHECK(j.contains("caption") && j["caption"].is_string(), "{}: \"caption\" must be a string",
              where);
    VideoFolderEntry e;
    e.file = j["file"].get<std::string>();
    e.caption = trim(j["caption"].get<std::string>());
    e.line = line_number;
    VDM_CHECK(!e.caption.empty(), "{}: the caption is empty", where);
    VDM_CHECK(!e.file.empty(), "{}: \"file\" is empty", where);
    const fs::path rel(e.file);
    VDM_CHECK(rel.is_relative() && !rel.has_root_name(),
              "{}: \"file\" must be relative to the folder, got \"{}\"", where, e.file);
    // canonical() resolves "..", "." and symlinks, so whatever is left must be under root.
    const fs::path resolved = fs::weakly_canonical(root / rel, ec);
    VDM_CHECK(!ec && inside(resolved, root) && resolved != root,
              "{}: \"{}\" leads outside the folder {}", where, e.file, root.string());
    VDM_CHECK(fs::is_regular_file(resolved, ec), "{}: no such clip \"{}\"", where, e.file);
    VDM_CHECK(io::is_video_path(resolved.string()),
              "{}: \"{}\" is not a video file; accepted: .mp4, .webm, .mov, .mkv, .gif", where,
              e.file);
    e.path = resolved.string();
    entries_.push_back(std::move(e));
  }
  VDM_CHECK(!entries_.empty(), "video folder {}: {} lists no clips", folder, o.captions_file);
}

const VideoFolderEntry& VideoFolder::entry(int64_t index) const {
  VDM_CHECK(index >= 0 && index < clips(), "video folder {}: clip index {} out of range [0, {})",
            folder_, index, clips());
  return entries_[static_cast<size_t>(index)];
}

torch::Tensor VideoFolder::load(int64_t index) const {
  const auto& e = entry(index);
  const auto& o = options_;
  io::VideoReadOptions read;
  read.fps = o.fps;
  read.max_pixels = o.max_pixels;
  read.deadline_s = o.deadline_s;

  // The size that covers height x width with the clip's aspect ratio; the crop removes the
  // rest. One decoded frame is enough to learn the source size.
  read.max_frames = 1;
  const auto info = io::probe_video(e.path, read);
  const double scale = std::max(static_cast<double>(o.width) / info.width,
                                static_cast<double>(o.height) / info.height);
  read.width = static_cast<int>(std::max<int64_t>(o.width, std::llround(info.width * scale)));
  read.height = static_cast<int>(std::max<int64_t>(o.height, std::llround(info.height * scale)));
  read.max_frames = o.frames;
  auto frames = io::read_video(e.path, read).frames;  // [3, f, h, w]

  const int64_t got = frames.size(1);
  if (got < o.frames) {
    VDM_CHECK(o.pad_short_clips,
              "{}: has {} frames{}, {} are needed (line {} of {}); use a lower frame count or "
              "fps, or pad short clips",
              e.path, got, o.fps > 0 ? fmt::format(" at {} fps", o.fps) : "", o.frames, e.line,
              o.captions_file);
    const auto last =
        frames.narrow(1, got - 1, 1).expand({3, o.frames - got, frames.size(2), frames.size(3)});
    frames = torch::cat({frames, last}, 1);  // [3, F, h, w]
  }
  const int64_t y0 = (frames.size(2) - o.height) / 2, x0 = (frames.size(3) - o.width) / 2;
  return frames.narrow(2, y0, o.height).narrow(3, x0, o.width).contiguous();  // [3, F, H, W]
}

VideoBatch VideoFolder::batch(const std::vector<int64_t>& indices) const {
  VDM_CHECK(!indices.empty(), "video folder {}: a batch needs at least one index", folder_);
  VideoBatch out;
  std::vector<torch::Tensor> clips;
  for (const int64_t i : indices) {
    clips.push_back(load(i));
    out.captions.push_back(entry(i).caption);
  }
  out.frames = torch::stack(clips);  // [B, 3, F, H, W]
  return out;
}

std::array<int64_t, 3> VideoFolder::clip_shape() const {
  return {options_.frames, options_.height, options_.width};
}

std::string VideoFolder::describe() const {
  return fmt::format("folder {} ({} clips, {}x{}x{})", folder_, clips(), options_.frames,
                     options_.height, options_.width);
}

}  // namespace vdm::data
