// Video files in and out, through FFmpeg's libraries (libavformat, libavcodec, libswscale,
// libavfilter). No hand-written encoders or decoders.
//
// Tensors are [C, F, H, W] float32 with C = 3 (RGB), values in [-1, 1] (DESIGN.md's video
// convention without the batch axis). Writers clamp to [-1, 1].
//
// Input is untrusted: only the `file` protocol is allowed, the frame size is capped
// (max_pixels), at most max_frames frames are decoded, and a wall-clock deadline bounds the
// whole read through FFmpeg's interrupt callback. Undecodable, truncated, empty or oversized
// files throw vdm::Error naming the file and what was wrong.
//
//   auto clip = vdm::io::read_video("in.mp4", {.fps = 8, .max_frames = 16});  // [3, F, H, W]
//   vdm::io::write_video("out.gif", clip.frames, {.fps = 8});
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace vdm::io {

struct VideoReadOptions {
  double fps = 0;                 // > 0: resample to this frame rate (nearest frame); 0: native
  int64_t max_frames = 1024;      // stop after this many output frames
  int64_t max_pixels = 4096 * 4096;  // width * height above this is an error
  int width = 0, height = 0;      // > 0 (both): resize frames to this size
  double deadline_s = 30.0;       // wall-clock bound on the whole read
};

struct VideoInfo {
  std::string container;  // e.g. "mov,mp4,m4a,3gp,3g2,mj2", "gif", "matroska,webm"
  std::string codec;      // e.g. "h264", "vp9", "gif"
  int width = 0, height = 0;
  double fps = 0;             // average frame rate as the container reports it
  int64_t frame_count = 0;    // counted by decoding (capped by max_frames in probe options)
  double duration_s = 0;
};

struct Video {
  torch::Tensor frames;  // [3, F, H, W] float32 in [-1, 1]
  double fps = 0;        // frame rate of `frames` (the resampled rate when fps was given)
  VideoInfo info;        // of the source file
};

// Decodes a .mp4, .webm, .mov, .mkv or .gif file (other extensions are refused, and so is a
// file whose content probes as any other container). Frames that change size mid-stream are
// scaled to the first frame's size (or to width x height when given). With fps > 0, output
// frame k is the source frame nearest to t0 + k / fps, so frames are dropped or repeated.
Video read_video(const std::string& path, const VideoReadOptions& options = {});

// Opens the file and counts its frames by decoding (at most options.max_frames); no frames
// are kept. Throws like read_video, including for a file with no decodable frame.
VideoInfo probe_video(const std::string& path, const VideoReadOptions& options = {});

struct VideoWriteOptions {
  double fps = 8;  // in (0, 1000]; GIF stores delays in 1/100 s, so its rate is approximate
  int crf = 18;    // quality for H.264 [0, 51] / VP9 [0, 63] (lower is better)
};

// Writes by the path's extension: .gif (one palette per clip, looping forever), .mp4 (H.264,
// yuv420p, BT.709), .webm (VP9, yuv420p, BT.709), or a path ending in '/' or naming an existing
// folder: PNG frames frame_00000.png, ... (the folder itself is created if its parent exists).
// Odd sizes are padded to even by edge replication for .mp4 (H.264's 4:2:0 needs even sizes;
// VP9 and GIF keep the size). Accepts any floating dtype; NaN is written as 0. The file is
// written to a temporary name and renamed, so a failed write leaves no torn file. Throws
// vdm::Error for bad tensors, unknown extensions (listing the accepted ones), a missing output
// folder, and encoder or I/O failures.
void write_video(const std::string& path, const torch::Tensor& frames,
                 const VideoWriteOptions& options = {});

// True when the path's extension is one read_video/write_video handle as a video file.
bool is_video_path(const std::string& path);

// True for what write_video accepts: a video path, or a folder (ending in '/', or existing)
// for PNG frames.
bool is_video_output_path(const std::string& path);

}  // namespace vdm::io
