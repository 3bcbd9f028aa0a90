// Video I/O: round trips through GIF, MP4 (H.264), WebM (VP9) and PNG frames, frame-rate
// resampling, and hostile input (empty, truncated, random, bit-flipped, huge-dimension files),
// each of which must end in a vdm::Error within seconds, never a crash or a hang.
#include <gtest/gtest.h>

#include "vdm/io/video.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support/test_util.h"
#include "vdm/core/error.h"

namespace fs = std::filesystem;
using vdm::io::read_video;
using vdm::io::write_video;
using vdm::test::read_bytes;
using vdm::test::write_bytes;

namespace {

constexpr int64_t kF = 8, kH = 24, kW = 32;

// Colours in [-1, 1] as (r, g, b).
const std::array<float, 3> kBackground = {-0.8f, -0.6f, -0.2f};  // dark blue
const std::array<float, 3> kSquare = {0.9f, 0.8f, -0.7f};        // yellow
const std::array<float, 3> kRed = {1.0f, -1.0f, -1.0f};
const std::array<float, 3> kGreen = {-1.0f, 0.6f, -1.0f};

torch::Tensor solid(const std::array<float, 3>& c, int64_t h = kH, int64_t w = kW) {
  return torch::tensor({c[0], c[1], c[2]}).view({3, 1, 1}).expand({3, h, w}).clone();  // [3, H, W]
}

// Square's top-left x in frame f of the moving part (frames 0..5): 8x8, moving 4 px a frame.
int64_t square_x(int64_t f) { return 2 + 4 * f; }
constexpr int64_t kSquareY = 8, kSquareSize = 8;

// [3, 8, 24, 32]: frames 0..5 a yellow square moving right on dark blue, 6 solid red, 7 solid
// green. The solid frames check colour fidelity; the square checks position and motion.
torch::Tensor synthetic_clip() {
  using torch::indexing::Slice;
  std::vector<torch::Tensor> frames;
  for (int64_t f = 0; f < 6; ++f) {
    auto frame = solid(kBackground);
    frame.index_put_({Slice(), Slice(kSquareY, kSquareY + kSquareSize),
                      Slice(square_x(f), square_x(f) + kSquareSize)},
                     solid(kSquare, kSquareSize, kSquareSize));
    frames.push_back(frame);
  }
  frames.push_back(solid(kRed));
  frames.push_back(solid(kGreen));
  return torch::stack(frames, 1);  // [3, F, H, W]
}

float mean_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().mean().item<float>();
}

// Each test gets a fresh temporary folder, removed with everything in it at the end.
class VideoTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  // Writes the synthetic clip once per test that needs it.
  std::string written(const std::string& name) {
    const std::string p = path(name);
    if (!fs::exists(p)) write_video(p, synthetic_clip(), {.fps = 8});
    return p;
  }

  vdm::test::TempDir dir_;
};

// Checks a decoded clip against synthetic_clip(): per-frame colours within `tol` (mean abs
// error in [-1, 1] units), and the square where it should be.
void expect_matches_clip(const torch::Tensor& got, float tol) {
  using torch::indexing::Slice;
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({3, kF, kH, kW}));
  EXPECT_EQ(got.scalar_type(), torch::kFloat32);
  EXPECT_GE(got.min().item<float>(), -1.0f);
  EXPECT_LE(got.max().item<float>(), 1.0f);
  const auto want = synthetic_clip();
  for (int64_t f = 0; f < kF; ++f) {
    const float err = mean_abs(got.select(1, f), want.select(1, f));
    EXPECT_LT(err, tol) << "frame " << f;
  }
  // The square's interior (2 px in from its edges, away from chroma bleeding) is yellow.
  for (int64_t f = 0; f < 6; ++f) {
    const auto inner = got.index({Slice(), f, Slice(kSquareY + 2, kSquareY + kSquareSize - 2),
                                  Slice(square_x(f) + 2, square_x(f) + kSquareSize - 2)});
    EXPECT_LT(mean_abs(inner, solid(kSquare, 4, 4)), tol) << "square in frame " << f;
  }
}

// Decodes one PNG file with libavcodec into [3, H, W] in [-1, 1].
torch::Tensor decode_png(const std::string& bytes) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_PNG);
  EXPECT_NE(codec, nullptr);
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> ctx(
      avcodec_alloc_context3(codec), [](AVCodecContext* c) { avcodec_free_context(&c); });
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> pkt(av_packet_alloc(),
                                                     [](AVPacket* p) { av_packet_free(&p); });
  std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(),
                                                     [](AVFrame* f) { av_frame_free(&f); });
  EXPECT_EQ(avcodec_open2(ctx.get(), codec, nullptr), 0);
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  data.resize(data.size() + AV_INPUT_BUFFER_PADDING_SIZE, 0);
  pkt->data = data.data();
  pkt->size = static_cast<int>(bytes.size());
  EXPECT_EQ(avcodec_send_packet(ctx.get(), pkt.get()), 0);
  EXPECT_EQ(avcodec_receive_frame(ctx.get(), frame.get()), 0);
  EXPECT_EQ(frame->format, AV_PIX_FMT_RGB24);
  auto out = torch::empty({frame->height, frame->width, 3}, torch::kUInt8);
  for (int y = 0; y < frame->height; ++y) {
    std::memcpy(out.data_ptr<uint8_t>() + y * frame->width * 3,
                frame->data[0] + y * frame->linesize[0], frame->width * 3);
  }
  return out.permute({2, 0, 1}).to(torch::kFloat32).div(127.5).sub(1.0);  // [3, H, W]
}

// Runs `fn`, which must throw vdm::Error whose message contains every one of `needles`, within
// `seconds`.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& needles, double seconds = 5.0) {
  const auto start = std::chrono::steady_clock::now();
  try {
    fn();
    ADD_FAILURE() << "expected vdm::Error";
  } catch (const vdm::Error& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
    }
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took.count(), seconds);
}

}  // namespace

// ---- round trips ------------------------------------------------------------------------
// Tolerances (mean abs error per frame, [-1, 1] units): PNG is lossless (half a quantization
// step); GIF has one palette for few colours, so nearly exact; H.264 and VP9 at crf 18 on
// flat colours lose a few levels plus 4:2:0 chroma at the square's edges.

TEST_F(VideoTest, Mp4RoundTrip) {
  const auto video = read_video(written("clip.mp4"));
  expect_matches_clip(video.frames, 0.1f);
  EXPECT_DOUBLE_EQ(video.fps, 8.0);
  EXPECT_EQ(video.info.codec, "h264");
}

TEST_F(VideoTest, WebmRoundTrip) {
  const auto video = read_video(written("clip.webm"));
  expect_matches_clip(video.frames, 0.1f);
  EXPECT_EQ(video.info.codec, "vp9");
}

TEST_F(VideoTest, GifRoundTripLoopsForever) {
  const std::string p = written("clip.gif");
  const auto video = read_video(p);
  expect_matches_clip(video.frames, 0.05f);
  EXPECT_EQ(video.info.codec, "gif");
  EXPECT_NEAR(video.fps, 8.0, 1e-6);  // delays of 12 and 13 / 100 s alternate: 8 frames in 1 s
  // The NETSCAPE2.0 application extension is what makes browsers loop a GIF.
  EXPECT_NE(read_bytes(p).find("NETSCAPE2.0"), std::string::npos);
}

TEST_F(VideoTest, PngFolderRoundTrip) {
  const std::string folder = path("frames") + "/";
  write_video(folder, synthetic_clip());
  const auto want = synthetic_clip();
  int files = 0;
  for (const auto& entry : fs::directory_iterator(folder)) files += entry.is_regular_file();
  EXPECT_EQ(files, kF);
  for (int64_t f = 0; f < kF; ++f) {
    const std::string bytes = read_bytes(fmt::format("{}frame_{:05d}.png", folder, f));
    ASSERT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << "frame " << f;
    const auto got = decode_png(bytes);
    ASSERT_EQ(got.sizes(), torch::IntArrayRef({3, kH, kW}));
    EXPECT_LE((got - want.select(1, f)).abs().max().item<float>(), 0.5f / 127.5f + 1e-6f);
  }
}

TEST_F(VideoTest, PngIntoExistingFolderWithoutSlash) {
  fs::create_directory(path("out"));
  write_video(path("out"), synthetic_clip());
  EXPECT_TRUE(fs::exists(path("out/frame_00007.png")));
}

TEST_F(VideoTest, MovAndMkvExtensionsRead) {
  fs::copy_file(written("clip.mp4"), path("clip.mov"));
  fs::copy_file(written("clip.webm"), path("clip.mkv"));
  EXPECT_EQ(read_video(path("clip.mov")).frames.size(1), kF);
  EXPECT_EQ(read_video(path("clip.mkv")).frames.size(1), kF);
}

TEST_F(VideoTest, OddSizeMp4IsPaddedByEdgeReplication) {
  using torch::indexing::Slice;
  auto frames = torch::zeros({3, 2, 25, 33});
  frames.index_put_({Slice(), Slice(), Slice(), Slice(16)}, 0.8);  // right half light
  write_video(path("odd.mp4"), frames);
  const auto got = read_video(path("odd.mp4")).frames;
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({3, 2, 26, 34}));
  // The added row and column repeat their neighbours (light right edge, dark bottom-left).
  EXPECT_LT(mean_abs(got.index({Slice(), Slice(), Slice(), 33}), torch::full({3, 2, 26}, 0.8)),
            0.1f);
  EXPECT_LT(mean_abs(got.index({Slice(), Slice(), 25, Slice(0, 12)}), torch::zeros({3, 2, 12})),
            0.1f);
}

TEST_F(VideoTest, ClampsAndAcceptsOtherFloatTypes) {
  auto frames = torch::stack({solid({5, 5, 5}), solid({-5, -5, -5})}, 1).to(torch::kFloat64);
  write_video(path("clamp.gif"), frames);
  const auto got = read_video(path("clamp.gif")).frames;
  EXPECT_LT(mean_abs(got.select(1, 0), solid({1, 1, 1})), 0.02f);
  EXPECT_LT(mean_abs(got.select(1, 1), solid({-1, -1, -1})), 0.02f);
}

TEST_F(VideoTest, WriteLeavesNoTemporaryFiles) {
  written("clip.mp4");
  written("clip.gif");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_.path()))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"clip.gif", "clip.mp4"}));
}

// ---- reading options ----------------------------------------------------------------------

TEST_F(VideoTest, ReadResamplesFrameRate) {
  const std::string p = written("clip.mp4");
  const auto clip = read_video(p).frames;
  // 8 fps -> 4 fps: every other source frame (0, 2, 4, 6).
  const auto half = read_video(p, {.fps = 4});
  ASSERT_EQ(half.frames.size(1), 4);
  EXPECT_DOUBLE_EQ(half.fps, 4.0);
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_LT(mean_abs(half.frames.select(1, k), clip.select(1, 2 * k)), 1e-6f) << "frame " << k;
  }
  // 8 fps -> 16 fps: each source frame twice.
  const auto twice = read_video(p, {.fps = 16});
  ASSERT_EQ(twice.frames.size(1), 16);
  for (int64_t k = 0; k < 16; ++k) {
    EXPECT_LT(mean_abs(twice.frames.select(1, k), clip.select(1, k / 2)), 1e-6f) << "frame " << k;
  }
}

TEST_F(VideoTest, ReadResamplesGifByItsFrameDelays) {
  // GIF delays alternate 12 and 13 / 100 s; at 4 fps the grid (0, .25, .5, .75 s) lands on
  // source frames 0, 2, 4, 6 exactly.
  const std::string p = written("clip.gif");
  const auto clip = read_video(p).frames;
  const auto half = read_video(p, {.fps = 4}).frames;
  ASSERT_EQ(half.size(1), 4);
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_LT(mean_abs(half.select(1, k), clip.select(1, 2 * k)), 1e-6f) << "frame " << k;
  }
}

TEST_F(VideoTest, ReadCapsFramesAndResizes) {
  const std::string p = written("clip.webm");
  EXPECT_EQ(read_video(p, {.max_frames = 3}).frames.sizes(), torch::IntArrayRef({3, 3, kH, kW}));
  const auto small = read_video(p, {.width = 16, .height = 12}).frames;
  ASSERT_EQ(small.sizes(), torch::IntArrayRef({3, kF, 12, 16}));
  EXPECT_LT(mean_abs(small.select(1, 6), solid(kRed, 12, 16)), 0.1f);  // solid stays solid
}

TEST_F(VideoTest, ProbeReportsFormatAndCountsFrames) {
  const auto mp4 = vdm::io::probe_video(written("clip.mp4"));
  EXPECT_NE(mp4.container.find("mp4"), std::string::npos) << mp4.container;
  EXPECT_EQ(mp4.codec, "h264");
  EXPECT_EQ(mp4.width, kW);
  EXPECT_EQ(mp4.height, kH);
  EXPECT_NEAR(mp4.fps, 8.0, 1e-6);
  EXPECT_EQ(mp4.frame_count, kF);
  EXPECT_NEAR(mp4.duration_s, 1.0, 0.05);

  const auto webm = vdm::io::probe_video(written("clip.webm"));
  EXPECT_NE(webm.container.find("webm"), std::string::npos) << webm.container;
  EXPECT_EQ(webm.codec, "vp9");
  EXPECT_EQ(webm.frame_count, kF);

  const auto gif = vdm::io::probe_video(written("clip.gif"), {.max_frames = 5});
  EXPECT_EQ(gif.container, "gif");
  EXPECT_EQ(gif.frame_count, 5);  // capped
}

TEST(VideoPath, RecognisesVideoExtensions) {
  EXPECT_TRUE(vdm::io::is_video_path("a/b.MP4"));
  EXPECT_TRUE(vdm::io::is_video_path("x.gif"));
  EXPECT_TRUE(vdm::io::is_video_path("x.mkv"));
  EXPECT_FALSE(vdm::io::is_video_path("x.png"));
  EXPECT_FALSE(vdm::io::is_video_path("frames/"));
}

// ---- bad writes --------------------------------------------------------------------------

TEST_F(VideoTest, WriteRejectsUnknownExtensionListingAccepted) {
  expect_error([&] { write_video(path("clip.avi"), synthetic_clip()); },
               {"clip.avi", ".gif", ".mp4", ".webm", "PNG"});
  EXPECT_FALSE(fs::exists(path("clip.avi")));
}

TEST_F(VideoTest, WriteRejectsMissingFolder) {
  expect_error([&] { write_video(path("nope/clip.mp4"), synthetic_clip()); },
               {"nope", "does not exist"});
  expect_error([&] { write_video(path("nope/frames/"), synthetic_clip()); },
               {"nope", "does not exist"});
}

TEST_F(VideoTest, WriteRejectsBadTensors) {
  const std::string p = path("bad.mp4");
  expect_error([&] { write_video(p, torch::zeros({3, 24, 32})); }, {"[3, F, H, W]"});
  expect_error([&] { write_video(p, torch::zeros({4, 2, 24, 32})); }, {"[3, F, H, W]"});
  expect_error([&] { write_video(p, torch::zeros({3, 0, 24, 32})); }, {">= 1"});
  expect_error([&] { write_video(p, torch::zeros({3, 2, 24, 32}, torch::kUInt8)); }, {"float"});
  expect_error([&] { write_video(p, torch::Tensor()); }, {"undefined"});
  expect_error([&] { write_video(p, synthetic_clip(), {.fps = 0}); }, {"fps"});
  expect_error([&] { write_video(p, synthetic_clip(), {.crf = 99}); }, {"crf"});
  EXPECT_FALSE(fs::exists(p));
}

// ---- hostile input -----------------------------------------------------------------------
// Every case must throw vdm::Error naming the file, in well under the 5 s the helper allows.

TEST_F(VideoTest, BadInputNonexistentFile) {
  expect_error([&] { read_video(path("missing.mp4")); }, {"missing.mp4", "no such file"});
}

TEST_F(VideoTest, BadInputUnknownExtension) {
  write_bytes(path("clip.avi"), "whatever");
  expect_error([&] { read_video(path("clip.avi")); }, {"clip.avi", ".mp4", ".gif"});
}

TEST_F(VideoTest, BadInputEmptyFile) {
  write_bytes(path("empty.mp4"), "");
  expect_error([&] { read_video(path("empty.mp4")); }, {"empty.mp4", "empty"});
}

TEST_F(VideoTest, BadInputRandomBytes) {
  std::mt19937 rng(1234);
  std::string bytes(64 * 1024, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  for (const char* name : {"random.mp4", "random.webm", "random.gif"}) {
    write_bytes(path(name), bytes);
    expect_error([&] { read_video(path(name), {.deadline_s = 5}); }, {name});
  }
}

TEST_F(VideoTest, BadInputTruncatedMp4) {
  const std::string bytes = read_bytes(written("clip.mp4"));
  // The index (moov) comes first (faststart): cutting inside it and cutting inside the frame
  // data fail differently, and both must be clean errors.
  for (size_t keep : {size_t{40}, size_t{200}, bytes.size() / 2, bytes.size() - 100}) {
    const std::string p = path(fmt::format("cut_{}.mp4", keep));
    write_bytes(p, bytes.substr(0, keep));
    expect_error([&] { read_video(p, {.deadline_s = 5}); }, {p});
  }
}

TEST_F(VideoTest, BadInputBitFlippedFilesDecodeOrThrow) {
  // Flipped bits in the frame data may decode to garbage (accepted) or fail (vdm::Error); they
  // must never crash, hang or return a malformed tensor.
  for (const char* name : {"clip.mp4", "clip.webm", "clip.gif"}) {
    const std::string clean = read_bytes(written(name));
    std::mt19937 rng(7);
    for (int trial = 0; trial < 10; ++trial) {
      std::string bytes = clean;
      // Mostly the middle (frame data); every third trial anywhere, headers included.
      const size_t lo = trial % 3 == 0 ? 0 : bytes.size() / 3;
      const size_t hi = trial % 3 == 0 ? bytes.size() : 2 * bytes.size() / 3;
      for (int i = 0; i < 16; ++i) {
        bytes[lo + rng() % (hi - lo)] ^= static_cast<char>(1 << (rng() % 8));
      }
      const std::string p = path(fmt::format("flip_{}_{}", trial, name));
      write_bytes(p, bytes);
      const auto start = std::chrono::steady_clock::now();
      try {
        const auto video = read_video(p, {.deadline_s = 5});
        EXPECT_EQ(video.frames.dim(), 4);
        EXPECT_EQ(video.frames.size(0), 3);
        EXPECT_GE(video.frames.size(1), 1);
        EXPECT_TRUE(torch::isfinite(video.frames).all().item<bool>());
      } catch (const vdm::Error& e) {
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      }
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      EXPECT_LT(took.count(), 5.0) << p;
    }
  }
}

TEST_F(VideoTest, BadInputHugeGifFailsOnMaxPixels) {
  // A minimal GIF declaring a 65535x65535 screen and image: decoding it would need 17 GB.
  std::string gif = "GIF89a";
  gif += std::string("\xff\xff\xff\xff\x80\x00\x00", 7);  // screen 65535x65535, 2-colour table
  gif += std::string("\x00\x00\x00\xff\xff\xff", 6);      // black, white
  gif += std::string("\x2c\x00\x00\x00\x00\xff\xff\xff\xff\x00", 10);  // image descriptor
  gif += std::string("\x02\x02\x4c\x01\x00", 5);  // LZW min code size 2, one 2-byte block, end
  gif += ";";                                     // trailer
  write_bytes(path("huge.gif"), gif);
  expect_error([&] { read_video(path("huge.gif")); }, {"huge.gif", "65535x65535", "max_pixels"},
               2.0);
  expect_error([&] { vdm::io::probe_video(path("huge.gif")); }, {"max_pixels"}, 2.0);
}

TEST_F(VideoTest, BadInputMaxPixelsCheckedBeforeDecoding) {
  expect_error([&] { read_video(written("clip.mp4"), {.max_pixels = 100}); },
               {"32x24", "max_pixels = 100"});
}

TEST_F(VideoTest, BadInputDeadlineStopsTheRead) {
  expect_error([&] { read_video(written("clip.webm"), {.deadline_s = 1e-9}); },
               {"clip.webm", "deadline"});
}

TEST_F(VideoTest, BadReadOptions) {
  const std::string p = written("clip.gif");
  expect_error([&] { read_video(p, {.max_frames = 0}); }, {"max_frames"});
  expect_error([&] { read_video(p, {.fps = -1}); }, {"fps"});
  expect_error([&] { read_video(p, {.width = 16}); }, {"width and height"});
}
