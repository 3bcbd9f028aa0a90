// Video I/O through FFmpeg's libraries. Reading treats every file as hostile (see video.h);
// writing encodes into a temporary file that is renamed into place. Every FFmpeg object is
// owned by a unique_ptr with the matching free function, so a throw anywhere frees it all.
#include "vdm/io/video.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "vdm/core/error.h"

namespace vdm::io {
namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

const std::vector<std::string> kReadExtensions = {".mp4", ".webm", ".mov", ".mkv", ".gif"};

}  // namespace

bool is_video_path(const std::string& path) {
  const std::string ext = lower_extension(path);
  return std::find(kReadExtensions.begin(), kReadExtensions.end(), ext) != kReadExtensions.end();
}

bool is_video_output_path(const std::string& path) {
  std::error_code ec;
  return is_video_path(path) || (!path.empty() && path.back() == '/') || std::filesystem::is_directory(path, ec);
}

}  // namespace vdm::io

#if VDM_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "vdm/core/error.h"
#include "vdm/io/atomic_file.h"

namespace vdm::io {
namespace fs = std::filesystem;

namespace {

// ---- FFmpeg ownership --------------------------------------------------------------------
// FFmpeg's free functions take T** (and null the pointer); adapt them to unique_ptr deleters.
template <typename T, void (*Free)(T**)>
struct FreeWith {
  void operator()(T* p) const { Free(&p); }
};
struct OutputDeleter {  // an output context also owns the file it writes, unless closed first
  void operator()(AVFormatContext* c) const {
    if (c->pb && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
using InputPtr = std::unique_ptr<AVFormatContext, FreeWith<AVFormatContext, avformat_close_input>>;
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, FreeWith<AVCodecContext, avcodec_free_context>>;
using FramePtr = std::unique_ptr<AVFrame, FreeWith<AVFrame, av_frame_free>>;
using PacketPtr = std::unique_ptr<AVPacket, FreeWith<AVPacket, av_packet_free>>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using GraphPtr = std::unique_ptr<AVFilterGraph, FreeWith<AVFilterGraph, avfilter_graph_free>>;

// An AVDictionary built from pairs. FFmpeg consumes the entries it recognises in place, so
// callers pass `&dict.raw` and the destructor frees whatever is left.
struct Dict {
  AVDictionary* raw = nullptr;
  Dict(std::initializer_list<std::pair<const char*, std::string>> entries = {}) {
    for (const auto& [key, value] : entries) set(key, value);
  }
  void set(const char* key, const std::string& value) {
    VDM_CHECK(av_dict_set(&raw, key, value.c_str(), 0) >= 0, "out of memory in av_dict_set");
  }
  ~Dict() { av_dict_free(&raw); }
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
};

FramePtr new_frame() {
  FramePtr f(av_frame_alloc());
  VDM_CHECK(f, "out of memory allocating an AVFrame");
  return f;
}

// A frame with its own buffer: FFmpeg's aligned, padded layout, since swscale's SIMD paths may
// read or write past the end of a row.
FramePtr new_frame(AVPixelFormat format, int width, int height) {
  FramePtr f = new_frame();
  f->format = format;
  f->width = width;
  f->height = height;
  VDM_CHECK(av_frame_get_buffer(f.get(), 0) >= 0, "out of memory for a {}x{} frame", width, height);
  return f;
}

// ---- FFmpeg logging ----------------------------------------------------------------------
// FFmpeg prints decoder complaints to stderr (a bit-flipped H.264 stream prints hundreds), which
// a library must not do. We keep the last error line of the calling thread instead and append
// it to our exceptions: "moov atom not found" says more than av_strerror's "Invalid data".
// The callback is process-wide; vdm is the only FFmpeg user in the process.
thread_local std::string last_log_line;

void log_callback(void*, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  va_list copy;
  va_copy(copy, args);
  std::vsnprintf(line, sizeof(line), fmt, copy);
  va_end(copy);
  std::string text(line);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (!text.empty()) last_log_line = text;
}

// FFmpeg's demuxers size some buffers from header fields (sample tables, extradata), so a small
// hostile file could make one allocation of hundreds of MB (found by fuzz_video: 604 MB from a
// few KB). Every single allocation is capped at what a frame of `max_pixels` can need: 8 bytes
// a pixel (16-bit RGBA), and at least 64 MiB. A refused allocation fails the read with ENOMEM.
void cap_allocations(int64_t max_pixels) {
  const double bytes = std::max(64.0 * (1 << 20), 8.0 * static_cast<double>(max_pixels));
  av_max_alloc(static_cast<size_t>(std::min(bytes, 4.0 * (1ull << 30))));
}

void init_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(log_callback);
  });
  last_log_line.clear();
}

// "Invalid data found when processing input (moov atom not found)".
std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  std::string text(buf);
  if (!last_log_line.empty()) text += " (" + last_log_line + ")";
  return text;
}

// Throws "<path>: <what>: <FFmpeg's reason>" when an FFmpeg call returned an error code.
void check_av(int code, const std::string& path, const std::string& what) {
  if (code < 0) throw Error(fmt::format("{}: {}: {}", path, what, av_error(code)));
}

// The demuxers that read those extensions. Anything else (playlists, concat lists, image2
// patterns) could make FFmpeg open other files, so it is refused even when probing finds it.
constexpr const char* kDemuxers = "mov,mp4,matroska,webm,gif";

// ---- reading -----------------------------------------------------------------------------
// FFmpeg polls this during blocking I/O; returning 1 aborts the call with AVERROR_EXIT. The
// decode loop also checks it between packets, since decoding itself never polls.
struct Deadline {
  std::chrono::steady_clock::time_point end;
  bool expired() const { return std::chrono::steady_clock::now() >= end; }
  static int poll(void* self) { return static_cast<const Deadline*>(self)->expired() ? 1 : 0; }
};

double to_seconds(int64_t ts, AVRational tb) { return static_cast<double>(ts) * av_q2d(tb); }

double rate_of(AVRational r) { return r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0; }

// How long a decoded frame is shown, in stream time base (0 if unknown). FFmpeg 6 renamed the
// field; GIFs need it because their per-frame delays make the average frame rate a poor guess.
int64_t frame_duration(const AVFrame* f) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
  return f->duration;
#else
  return f->pkt_duration;
#endif
}

// An open input with its decoder: yields decoded frames one at a time, checking the deadline.
class Reader {
 public:
  Reader(const std::string& path, const VideoReadOptions& opt) : path_(path), opt_(opt) {
    init_ffmpeg();
    VDM_CHECK(opt.max_frames >= 1, "{}: max_frames must be >= 1, got {}", path, opt.max_frames);
    VDM_CHECK(opt.max_pixels >= 1, "{}: max_pixels must be >= 1, got {}", path, opt.max_pixels);
    VDM_CHECK(std::isfinite(opt.fps) && opt.fps >= 0, "{}: fps must be >= 0, got {}", path,
              opt.fps);
    VDM_CHECK(opt.deadline_s > 0, "{}: deadline_s must be > 0, got {}", path, opt.deadline_s);
    VDM_CHECK((opt.width > 0) == (opt.height > 0) && opt.width >= 0 && opt.height >= 0,
              "{}: resize needs both width and height > 0 (or both 0), got {}x{}", path, opt.width,
              opt.height);
    cap_allocations(opt.max_pixels);
    const std::string ext = lower_extension(path);
    VDM_CHECK(
        std::find(kReadExtensions.begin(), kReadExtensions.end(), ext) != kReadExtensions.end(),
        "{}: cannot read '{}' files; accepted: .mp4, .webm, .mov, .mkv, .gif", path, ext);
    std::error_code ec;
    VDM_CHECK(fs::is_regular_file(path, ec), "{}: no such file", path);
    VDM_CHECK(fs::file_size(path, ec) != 0, "{}: file is empty", path);
    // Capped at ~3 years so that a huge deadline_s cannot overflow the clock arithmetic.
    deadline_.end = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(std::min(opt.deadline_s, 1e8)));
    open_input();
    open_decoder();
  }

  const VideoInfo& info() const { return info_; }
  AVRational time_base() const { return fmt_->streams[stream_]->time_base; }

  // Decodes the next frame into `out`; false at the end of the stream.
  bool next(AVFrame* out) {
    for (;;) {
      check_deadline();
      int r = avcodec_receive_frame(dec_.get(), out);
      if (r == 0) {
        VDM_CHECK(static_cast<int64_t>(out->width) * out->height <= opt_.max_pixels,
                  "{}: a frame of {}x{} exceeds max_pixels = {}", path_, out->width, out->height,
                  opt_.max_pixels);
        return true;
      }
      if (r == AVERROR_EOF) return false;
      if (r != AVERROR(EAGAIN)) fail("cannot decode frame", r);
      VDM_CHECK(!flushed_, "{}: decoder asked for more input after the end of the stream", path_);
      r = av_read_frame(fmt_.get(), packet_.get());
      if (r == AVERROR_EOF) {
        flushed_ = true;
        r = avcodec_send_packet(dec_.get(), nullptr);  // drain the frames the decoder holds
      } else if (r < 0) {
        fail("cannot read packet", r);
      } else if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      } else {
        r = avcodec_send_packet(dec_.get(), packet_.get());
        av_packet_unref(packet_.get());
      }
      if (r < 0 && r != AVERROR_EOF) fail("cannot decode packet", r);
    }
  }

  [[noreturn]] void fail(const std::string& what, int code) const {
    if (deadline_.expired()) check_deadline();
    throw Error(fmt::format("{}: {}: {}", path_, what, av_error(code)));
  }

 private:
  void check_deadline() const {
    VDM_CHECK(!deadline_.expired(), "{}: gave up after the {} s deadline (deadline_s)", path_,
              opt_.deadline_s);
  }

  void check_size(int width, int height) const {
    VDM_CHECK(static_cast<int64_t>(width) * height <= opt_.max_pixels,
              "{}: frame size {}x{} ({} pixels) exceeds max_pixels = {}", path_, width, height,
              static_cast<int64_t>(width) * height, opt_.max_pixels);
  }

  void open_input() {
    AVFormatContext* raw = avformat_alloc_context();
    VDM_CHECK(raw, "out of memory allocating an AVFormatContext");
    raw->interrupt_callback = AVIOInterruptCB{&Deadline::poll, &deadline_};
    // Bounded probing: a hostile file can otherwise make stream analysis read and decode a lot.
    Dict options{{"protocol_whitelist", "file"},
                 {"format_whitelist", kDemuxers},
                 {"probesize", std::to_string(16 << 20)},
                 {"analyzeduration", std::to_string(10 * AV_TIME_BASE)}};
    // "file:" so that a path containing ':' is never taken as a protocol name.
    const int r = avformat_open_input(&raw, ("file:" + path_).c_str(), nullptr, &options.raw);
    if (r < 0) fail("not a readable video file", r);  // raw was freed by FFmpeg
    fmt_.reset(raw);
    // Headers usually declare the frame size: refuse huge frames before decoding any.
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVCodecParameters* par = fmt_->streams[i]->codecpar;
      if (par->codec_type == AVMEDIA_TYPE_VIDEO) check_size(par->width, par->height);
    }
    // Stream analysis may decode a few frames; give each stream's decoder the pixel cap too.
    std::vector<AVDictionary*> per_stream(fmt_->nb_streams, nullptr);
    for (auto& d : per_stream)
      av_dict_set(&d, "max_pixels", std::to_string(max_pixels()).c_str(), 0);
    const int info = avformat_find_stream_info(fmt_.get(), per_stream.data());
    for (auto& d : per_stream) av_dict_free(&d);
    if (info < 0) fail("cannot find stream information", info);

    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ < 0) fail("no decodable video stream", stream_);
    codec_ = codec;
    const AVStream* st = fmt_->streams[stream_];
    VDM_CHECK(st->codecpar->width > 0 && st->codecpar->height > 0,
              "{}: the video stream declares no frame size", path_);
    check_size(st->codecpar->width, st->codecpar->height);

    info_.container = fmt_->iformat->name;
    info_.codec = avcodec_get_name(st->codecpar->codec_id);
    info_.width = st->codecpar->width;
    info_.height = st->codecpar->height;
    info_.fps =
        rate_of(st->avg_frame_rate) > 0 ? rate_of(st->avg_frame_rate) : rate_of(st->r_frame_rate);
    if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0) {
      info_.duration_s = static_cast<double>(fmt_->duration) / AV_TIME_BASE;
    } else if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
      info_.duration_s = to_seconds(st->duration, st->time_base);
    }
  }

  // libavcodec's max_pixels is a long-sized int option; clamp so huge caps stay representable.
  int64_t max_pixels() const { return std::min<int64_t>(opt_.max_pixels, INT32_MAX); }

  void open_decoder() {
    const AVStream* st = fmt_->streams[stream_];
    dec_.reset(avcodec_alloc_context3(codec_));
    VDM_CHECK(dec_, "out of memory allocating a decoder");
    int r = avcodec_parameters_to_context(dec_.get(), st->codecpar);
    if (r < 0) fail("bad codec parameters", r);
    dec_->pkt_timebase = st->time_base;
    Dict options{{"max_pixels", std::to_string(max_pixels())}, {"threads", "auto"}};
    r = avcodec_open2(dec_.get(), codec_, &options.raw);
    if (r < 0) fail(fmt::format("cannot open the {} decoder", info_.codec), r);
    packet_.reset(av_packet_alloc());
    VDM_CHECK(packet_, "out of memory allocating an AVPacket");
  }

  std::string path_;
  VideoReadOptions opt_;
  Deadline deadline_;
  InputPtr fmt_;
  CodecPtr dec_;
  PacketPtr packet_;
  const AVCodec* codec_ = nullptr;
  int stream_ = -1;
  bool flushed_ = false;
  VideoInfo info_;
};

// Converts decoded frames of any pixel format, colour matrix and size to RGB24 at one size
// (the first frame's, or the requested one), honouring the frame's colour-space tags so that
// BT.709 and full-range sources come out with the right colours.
class RgbConverter {
 public:
  RgbConverter(const std::string& path, int width, int height)
      : path_(path), width_(width), height_(height) {}

  torch::Tensor operator()(const AVFrame* f) {  // -> [H, W, 3] uint8
    if (width_ == 0) width_ = f->width, height_ = f->height;
    const auto fmt = static_cast<AVPixelFormat>(f->format);
    VDM_CHECK(sws_isSupportedInput(fmt), "{}: unsupported pixel format {}", path_,
              av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "(unknown)");
    sws_.reset(sws_getCachedContext(
        sws_.release(), f->width, f->height, fmt, width_, height_, AV_PIX_FMT_RGB24,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr));
    VDM_CHECK(sws_, "{}: cannot convert {}x{} {} frames to RGB", path_, f->width, f->height,
              av_get_pix_fmt_name(fmt));
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(fmt);
    // yuvj* formats are full range by definition, whatever the tag says.
    const bool full = f->color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P ||
                      fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P;
    // The cached context is rebuilt when the input size or format changes; setting the matrix
    // rebuilds swscale's tables, so it is done only when this key changes.
    const std::array<int, 5> key = {f->width, f->height, f->format, f->colorspace, full ? 1 : 0};
    const bool yuv = desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL));
    if (yuv && key != key_) {
      key_ = key;
      int *inv = nullptr, *table = nullptr, src_range = 0, dst_range = 0, bright = 0, contrast = 0,
          sat = 0;
      sws_getColorspaceDetails(sws_.get(), &inv, &src_range, &table, &dst_range, &bright, &contrast,
                               &sat);
      // Unknown or unspecified matrices fall back to BT.601 inside sws_getCoefficients.
      sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(f->colorspace), key[4], table,
                               dst_range, bright, contrast, sat);
    }
    if (!rgb_) rgb_ = new_frame(AV_PIX_FMT_RGB24, width_, height_);
    sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, rgb_->data, rgb_->linesize);
    auto out = torch::empty({height_, width_, 3}, torch::kUInt8);
    uint8_t* dst = out.data_ptr<uint8_t>();
    for (int y = 0; y < height_; ++y) {
      std::memcpy(dst + static_cast<size_t>(y) * width_ * 3, rgb_->data[0] + y * rgb_->linesize[0],
                  static_cast<size_t>(width_) * 3);
    }
    return out;
  }

 private:
  std::string path_;
  int width_, height_;
  SwsPtr sws_;
  std::array<int, 5> key_ = {-1, -1, -1, -1, -1};  // width, height, format, matrix, full range
  FramePtr rgb_;
};

}  // namespace

Video read_video(const std::string& path, const VideoReadOptions& options) {
  Reader reader(path, options);
  RgbConverter to_rgb(path, options.width, options.height);
  const double src_fps = reader.info().fps;
  std::vector<torch::Tensor> frames;  // each [H, W, 3] uint8
  auto full = [&] { return static_cast<int64_t>(frames.size()) >= options.max_frames; };

  // A decoded frame, converted to RGB only when first emitted (dropped frames never are).
  struct Held {
    FramePtr frame = new_frame();
    double t = 0, duration = 0;  // seconds
    torch::Tensor rgb;
  };
  auto emit = [&](Held& h) {
    if (!h.rgb.defined()) h.rgb = to_rgb(h.frame.get());
    frames.push_back(h.rgb);  // repeated frames share storage until torch::stack copies them
  };

  // Resampling: output frame k shows the source frame nearest to t0 + k / fps. The previous
  // frame is held until the next one shows which of the two is nearer each grid point.
  const bool resample = options.fps > 0;
  const double fallback_duration = src_fps > 0 ? 1.0 / src_fps : resample ? 1.0 / options.fps : 0;
  Held prev, cur;
  double t0 = 0, t_end = 0;  // first timestamp; when the last decoded frame stops showing
  int64_t k = 0, decoded = 0;
  auto grid = [&] { return t0 + static_cast<double>(k) / options.fps; };
  while (!full() && reader.next(cur.frame.get())) {
    const int64_t ts = cur.frame->best_effort_timestamp;
    const int64_t dur = frame_duration(cur.frame.get());
    cur.t = ts != AV_NOPTS_VALUE ? to_seconds(ts, reader.time_base()) : prev.t + prev.duration;
    cur.duration = dur > 0 ? to_seconds(dur, reader.time_base()) : fallback_duration;
    // Corrupt timestamps must not poison the grid.
    if (!std::isfinite(cur.t)) cur.t = prev.t;
    if (!std::isfinite(cur.duration) || cur.duration < 0) cur.duration = fallback_duration;
    if (decoded++ == 0) t0 = t_end = cur.t;
    t_end = std::max(t_end, cur.t + cur.duration);
    if (!resample) frames.push_back(to_rgb(cur.frame.get()));
    for (; resample && decoded > 1 && !full() && grid() < cur.t; ++k) {
      emit(grid() - prev.t <= cur.t - grid() ? prev : cur);
    }
    std::swap(prev, cur);
    cur.rgb = torch::Tensor();
  }
  for (; resample && decoded > 0 && !full() && (grid() < t_end - 1e-9 || frames.empty()); ++k) {
    emit(prev);  // the last frame, for as long as it shows
  }
  VDM_CHECK(!frames.empty(), "{}: the file holds no decodable video frames", path);

  Video video;
  video.info = reader.info();
  // Native rate: the container's, except for GIF, whose demuxer guesses it from the first
  // few per-frame delays; there the decoded timestamps give the true average.
  const double span = t_end - t0;
  const bool measure = src_fps <= 0 || video.info.container == "gif";
  video.fps = resample                                     ? options.fps
              : measure && span > 0 && std::isfinite(span) ? static_cast<double>(decoded) / span
                                                           : src_fps;
  // f h w c -> c f h w (made contiguous while still uint8), then to [-1, 1]
  const auto rgb = torch::stack(frames).permute({3, 0, 1, 2}).contiguous();  // [3, F, H, W]
  video.frames = rgb.to(torch::kFloat32).div_(127.5).sub_(1.0);              // [3, F, H, W]
  return video;
}

VideoInfo probe_video(const std::string& path, const VideoReadOptions& options) {
  Reader reader(path, options);
  VideoInfo info = reader.info();
  FramePtr frame = new_frame();
  while (info.frame_count < options.max_frames && reader.next(frame.get())) {
    ++info.frame_count;
    av_frame_unref(frame.get());
  }
  VDM_CHECK(info.frame_count > 0, "{}: the file holds no decodable video frames", path);
  return info;
}

// ---- writing -----------------------------------------------------------------------------
namespace {

// Validates and quantizes [3, F, H, W] floats in [-1, 1] to [F, H, W, 3] uint8 (NaN -> 0).
torch::Tensor to_rgb_bytes(const std::string& path, const torch::Tensor& frames) {
  VDM_CHECK(frames.defined(), "{}: no frames to write (undefined tensor)", path);
  VDM_CHECK(frames.dim() == 4 && frames.size(0) == 3,
            "{}: expected frames of shape [3, F, H, W] (RGB), got {}", path,
            c10::str(frames.sizes()));
  VDM_CHECK(frames.size(1) >= 1 && frames.size(2) >= 1 && frames.size(3) >= 1,
            "{}: expected F, H, W >= 1 in [3, F, H, W], got {}", path, c10::str(frames.sizes()));
  VDM_CHECK(frames.is_floating_point(), "{}: expected float frames in [-1, 1], got dtype {}", path,
            c10::toString(frames.scalar_type()));
  VDM_CHECK(frames.size(2) <= 16384 && frames.size(3) <= 16384,
            "{}: frames of {}x{} are larger than 16384 on a side", path, frames.size(3),
            frames.size(2));
  auto x = torch::nan_to_num(frames.detach().to(torch::kCPU, torch::kFloat32), 0.0);
  x = x.clamp(-1, 1).add(1).mul(127.5).round().to(torch::kUInt8);  // [3, F, H, W]
  return x.permute({1, 2, 3, 0}).contiguous();                     // c f h w -> f h w c
}

// Wraps each [H, W, 3] slice as an RGB24 AVFrame (copied: encoders may keep references).
std::vector<FramePtr> rgb_frames(const torch::Tensor& rgb) {  // rgb: [F, H, W, 3] uint8
  const int height = static_cast<int>(rgb.size(1)), width = static_cast<int>(rgb.size(2));
  std::vector<FramePtr> out;
  for (int64_t i = 0; i < rgb.size(0); ++i) {
    FramePtr f = new_frame(AV_PIX_FMT_RGB24, width, height);
    const uint8_t* src = rgb[i].data_ptr<uint8_t>();
    for (int y = 0; y < height; ++y) {
      std::memcpy(f->data[0] + y * f->linesize[0], src + static_cast<size_t>(y) * width * 3,
                  static_cast<size_t>(width) * 3);
    }
    f->pts = i;
    out.push_back(std::move(f));
  }
  return out;
}

// Our YUV is limited-range BT.709 (sRGB primaries); saying so lets readers, ours included,
// pick the matching matrix instead of guessing from the frame size.
template <typename T>  // AVFrame or AVCodecContext
void tag_bt709(T* x) {
  x->color_range = AVCOL_RANGE_MPEG;
  x->colorspace = AVCOL_SPC_BT709;
  x->color_primaries = AVCOL_PRI_BT709;
  x->color_trc = AVCOL_TRC_BT709;
}

// RGB -> YUV 4:2:0, limited range, BT.709 matrix.
std::vector<FramePtr> to_yuv420(const std::string& path, const std::vector<FramePtr>& rgb) {
  const int width = rgb[0]->width, height = rgb[0]->height;
  SwsPtr sws(sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr,
                            nullptr));
  VDM_CHECK(sws, "{}: cannot set up RGB -> YUV conversion for {}x{}", path, width, height);
  int *inv = nullptr, *table = nullptr, src_range = 0, dst_range = 0, bright = 0, contrast = 0,
      sat = 0;
  sws_getColorspaceDetails(sws.get(), &inv, &src_range, &table, &dst_range, &bright, &contrast,
                           &sat);
  sws_setColorspaceDetails(sws.get(), inv, src_range, sws_getCoefficients(SWS_CS_ITU709), 0, bright,
                           contrast, sat);
  std::vector<FramePtr> out;
  for (const auto& f : rgb) {
    FramePtr y = new_frame(AV_PIX_FMT_YUV420P, width, height);
    sws_scale(sws.get(), f->data, f->linesize, 0, height, y->data, y->linesize);
    y->pts = f->pts;
    tag_bt709(y.get());
    out.push_back(std::move(y));
  }
  return out;
}

// One 256-colour palette for the whole clip (palettegen sees every frame before paletteuse
// maps them), so colours stay stable from frame to frame. Returns PAL8 frames.
std::vector<FramePtr> to_gif_palette(const std::string& path, const std::vector<FramePtr>& rgb,
                                     AVRational time_base) {
  auto check = [&](int r, const char* what) {
    check_av(r, path, fmt::format("GIF palette: {}", what));
  };
  GraphPtr graph(avfilter_graph_alloc());
  VDM_CHECK(graph, "out of memory allocating a filter graph");
  // reserve_transparent=0: all 256 entries go to colours (we never write transparency).
  // paletteuse outputs PAL8 only, which is what the GIF encoder takes.
  const std::string spec = fmt::format(
      "buffer@in=video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1,split[a][b];"
      "[a]palettegen=reserve_transparent=0:stats_mode=full[p];[b][p]paletteuse,buffersink@out",
      rgb[0]->width, rgb[0]->height, static_cast<int>(AV_PIX_FMT_RGB24), time_base.num,
      time_base.den);
  check(avfilter_graph_parse_ptr(graph.get(), spec.c_str(), nullptr, nullptr, nullptr), "parse");
  check(avfilter_graph_config(graph.get(), nullptr), "configure");
  AVFilterContext* src = avfilter_graph_get_filter(graph.get(), "buffer@in");
  AVFilterContext* sink = avfilter_graph_get_filter(graph.get(), "buffersink@out");
  VDM_CHECK(src && sink, "{}: GIF palette filter: graph lacks its source or sink", path);
  for (const auto& f : rgb) {
    check(av_buffersrc_add_frame_flags(src, f.get(), AV_BUFFERSRC_FLAG_KEEP_REF), "push frame");
  }
  check(av_buffersrc_add_frame(src, nullptr), "end of input");
  std::vector<FramePtr> out;
  for (;;) {
    FramePtr f = new_frame();
    const int r = av_buffersink_get_frame(sink, f.get());
    if (r == AVERROR_EOF) break;
    check(r, "pull frame");
    out.push_back(std::move(f));
  }
  VDM_CHECK(out.size() == rgb.size(), "{}: GIF palette filter returned {} of {} frames", path,
            out.size(), rgb.size());
  return out;
}

struct Encoder {
  const char* muxer;    // libavformat short name
  const char* encoder;  // libavcodec encoder name
  AVPixelFormat pix_fmt;
};

// Encodes `frames` (already in enc.pix_fmt) into the file `file` with the given muxer.
void encode_file(const std::string& path, const std::string& file, const Encoder& enc,
                 std::vector<FramePtr> frames, AVRational time_base, const VideoWriteOptions& opt) {
  auto check = [&](int r, const std::string& what) { check_av(r, path, what); };
  AVFormatContext* raw = nullptr;
  // "file:" so that a path containing ':' is never taken as a protocol name.
  const std::string url = "file:" + file;
  check(avformat_alloc_output_context2(&raw, nullptr, enc.muxer, url.c_str()), "output format");
  OutputPtr out(raw);
  const AVCodec* codec = avcodec_find_encoder_by_name(enc.encoder);
  VDM_CHECK(codec, "{}: this FFmpeg build has no {} encoder", path, enc.encoder);
  AVStream* st = avformat_new_stream(out.get(), nullptr);
  VDM_CHECK(st, "out of memory allocating an output stream");
  CodecPtr ctx(avcodec_alloc_context3(codec));
  VDM_CHECK(ctx, "out of memory allocating an encoder");
  ctx->width = frames[0]->width;
  ctx->height = frames[0]->height;
  ctx->pix_fmt = enc.pix_fmt;
  ctx->time_base = time_base;
  ctx->framerate = av_inv_q(time_base);
  ctx->sample_aspect_ratio = AVRational{1, 1};
  ctx->bit_rate = 0;  // quality-driven (crf), not bitrate-driven
  if (enc.pix_fmt == AV_PIX_FMT_YUV420P) tag_bt709(ctx.get());
  if (out->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  const std::string muxer = enc.muxer;
  Dict codec_options;
  if (muxer == "mp4" || muxer == "webm") codec_options.set("crf", std::to_string(opt.crf));
  if (muxer == "webm") {
    // libvpx's default speed (cpu-used=1) is several times slower for little gain on short clips.
    codec_options.set("deadline", "good");
    codec_options.set("cpu-used", "4");
    codec_options.set("row-mt", "1");
  }
  check(avcodec_open2(ctx.get(), codec, &codec_options.raw),
        fmt::format("cannot open the {} encoder", enc.encoder));
  check(avcodec_parameters_from_context(st->codecpar, ctx.get()), "stream parameters");
  st->time_base = time_base;
  st->avg_frame_rate = ctx->framerate;
  if (!(out->oformat->flags & AVFMT_NOFILE)) {
    check(avio_open(&out->pb, url.c_str(), AVIO_FLAG_WRITE), "cannot open temporary file");
  }
  // GIF: loop=0 loops forever. MP4: index first, so players can start before the download ends.
  Dict mux_options;
  if (muxer == "gif") {
    // GIF delays are whole 1/100 s; by default the last frame repeats the previous delay, which
    // makes 8 frames at 8 fps last 1.01 s. Give it what is left of F / fps instead.
    const AVRational gif_tb{1, 100};
    const auto n = static_cast<int64_t>(frames.size());
    const int64_t last_delay =
        av_rescale_q(n, time_base, gif_tb) - av_rescale_q(n - 1, time_base, gif_tb);
    mux_options.set("loop", "0");
    mux_options.set("final_delay", std::to_string(std::max<int64_t>(last_delay, 1)));
  }
  if (muxer == "mp4") mux_options.set("movflags", "+faststart");
  check(avformat_write_header(out.get(), &mux_options.raw), "cannot write header");

  PacketPtr pkt(av_packet_alloc());
  VDM_CHECK(pkt, "out of memory allocating an AVPacket");
  auto drain = [&] {
    for (;;) {
      const int r = avcodec_receive_packet(ctx.get(), pkt.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      check(r, "encoding failed");
      av_packet_rescale_ts(pkt.get(), ctx->time_base, st->time_base);
      pkt->stream_index = st->index;
      check(av_interleaved_write_frame(out.get(), pkt.get()), "cannot write packet");
    }
  };
  for (size_t i = 0; i < frames.size(); ++i) {
    frames[i]->pts = static_cast<int64_t>(i);
    check(avcodec_send_frame(ctx.get(), frames[i].get()), "encoding failed");
    drain();
  }
  check(avcodec_send_frame(ctx.get(), nullptr), "encoding failed");  // flush delayed frames
  drain();
  check(av_write_trailer(out.get()), "cannot finish the file");
  // Closing flushes buffered bytes; a full disk shows up here, not earlier.
  if (out->pb && !(out->oformat->flags & AVFMT_NOFILE)) {
    check(avio_closep(&out->pb), "cannot write the file");
  }
}

// PNG frames: each file encoded in memory and written atomically on its own.
void write_png_folder(const std::string& dir, const std::vector<FramePtr>& frames) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  VDM_CHECK(codec, "{}: this FFmpeg build has no PNG encoder", dir);
  CodecPtr ctx(avcodec_alloc_context3(codec));
  VDM_CHECK(ctx, "out of memory allocating an encoder");
  ctx->width = frames[0]->width;
  ctx->height = frames[0]->height;
  ctx->pix_fmt = AV_PIX_FMT_RGB24;
  ctx->time_base = AVRational{1, 1};
  check_av(avcodec_open2(ctx.get(), codec, nullptr), dir, "cannot open the PNG encoder");
  PacketPtr pkt(av_packet_alloc());
  VDM_CHECK(pkt, "out of memory allocating an AVPacket");
  for (size_t i = 0; i < frames.size(); ++i) {
    int r = avcodec_send_frame(ctx.get(), frames[i].get());
    if (r >= 0) r = avcodec_receive_packet(ctx.get(), pkt.get());
    check_av(r, dir, "PNG encoding failed");
    const std::string name = fmt::format("frame_{:05d}.png", i);
    write_file_atomic((fs::path(dir) / name).string(),
                      std::string(reinterpret_cast<const char*>(pkt->data), pkt->size));
    av_packet_unref(pkt.get());
  }
}

}  // namespace

void write_video(const std::string& path, const torch::Tensor& frames,
                 const VideoWriteOptions& options) {
  init_ffmpeg();
  VDM_CHECK(std::isfinite(options.fps) && options.fps > 0 && options.fps <= 1000,
            "{}: fps must be in (0, 1000], got {}", path, options.fps);
  if (frames.dim() == 4) cap_allocations(frames.size(2) * frames.size(3));
  std::error_code ec;
  const bool folder = !path.empty() && (path.back() == '/' || fs::is_directory(path, ec));
  const std::string ext = lower_extension(path);
  VDM_CHECK(folder || ext == ".gif" || ext == ".mp4" || ext == ".webm",
            "{}: cannot write '{}' files; accepted: .gif, .mp4, .webm, or a folder (a path "
            "ending in '/') for PNG frames",
            path, ext);
  if (ext == ".mp4" || ext == ".webm") {
    const int max_crf = ext == ".mp4" ? 51 : 63;
    VDM_CHECK(options.crf >= 0 && options.crf <= max_crf, "{}: crf must be in [0, {}], got {}",
              path, max_crf, options.crf);
  }
  torch::Tensor rgb = to_rgb_bytes(path, frames);  // [F, H, W, 3] uint8

  if (folder) {
    // The frames' own folder is created (one level); a missing parent is the user's mistake.
    fs::path dir(path);
    if (!dir.has_filename()) dir = dir.parent_path();  // "out/frames/" -> "out/frames"
    const fs::path parent = dir.parent_path();
    if (!fs::is_directory(dir, ec)) {
      VDM_CHECK(parent.empty() || fs::is_directory(parent, ec),
                "{}: cannot create the frame folder: folder '{}' does not exist", path,
                parent.string());
      fs::create_directory(dir, ec);
      VDM_CHECK(!ec, "{}: cannot create the frame folder: {}", path, ec.message());
    }
    write_png_folder(path, rgb_frames(rgb));
    return;
  }

  const fs::path parent = fs::path(path).parent_path();
  VDM_CHECK(parent.empty() || fs::is_directory(parent, ec), "{}: output folder '{}' does not exist",
            path, parent.string());
  if (ext == ".mp4" && (rgb.size(1) % 2 || rgb.size(2) % 2)) {
    // H.264 4:2:0 needs even sizes: repeat the last row / column rather than cropping.
    using torch::indexing::Slice;
    if (rgb.size(1) % 2) rgb = torch::cat({rgb, rgb.index({Slice(), Slice(-1)})}, 1);
    if (rgb.size(2) % 2) rgb = torch::cat({rgb, rgb.index({Slice(), Slice(), Slice(-1)})}, 2);
    rgb = rgb.contiguous();
  }
  // 1/fps as a rational: 8 -> 1/8, 29.97 -> 100/2997.
  const AVRational time_base = av_inv_q(av_d2q(options.fps, 100000));
  std::vector<FramePtr> rgb24 = rgb_frames(rgb);
  write_file_atomic_with(path, [&](const std::string& tmp) {
    if (ext == ".gif") {
      encode_file(path, tmp, {"gif", "gif", AV_PIX_FMT_PAL8},
                  to_gif_palette(path, rgb24, time_base), time_base, options);
    } else if (ext == ".mp4") {
      encode_file(path, tmp, {"mp4", "libx264", AV_PIX_FMT_YUV420P}, to_yuv420(path, rgb24),
                  time_base, options);
    } else {
      encode_file(path, tmp, {"webm", "libvpx-vp9", AV_PIX_FMT_YUV420P}, to_yuv420(path, rgb24),
                  time_base, options);
    }
  });
}

}  // namespace vdm::io

#else  // built without FFmpeg (-DVDM_WITH_FFMPEG=OFF): tensors in .safetensors files still work

namespace vdm::io {
namespace {

[[noreturn]] void no_ffmpeg(const std::string& path) {
  throw Error(fmt::format("{}: this vdm was built without FFmpeg (-DVDM_WITH_FFMPEG=OFF), so it cannot "
                          "read or write videos and images; use a .safetensors file, or rebuild with FFmpeg",
                          path));
}

}  // namespace

Video read_video(const std::string& path, const VideoReadOptions&) { no_ffmpeg(path); }
VideoInfo probe_video(const std::string& path, const VideoReadOptions&) { no_ffmpeg(path); }
void write_video(const std::string& path, const torch::Tensor&, const VideoWriteOptions&) { no_ffmpeg(path); }

}  // namespace vdm::io

#endif  // VDM_WITH_FFMPEG
