// libFuzzer target: the video reader (FFmpeg's demuxers and decoders behind vdm's checks):
// open a file and decode its first frames. The first byte picks the extension, since the
// reader accepts .mp4, .webm, .mov, .mkv and .gif and refuses content that probes as another
// container; the rest is the file.
#include <torch/torch.h>

#include "fuzz_util.h"
#include "vdm/io/video.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kExtensions[] = {".mp4", ".gif", ".webm", ".mkv", ".mov"};
  const auto ext = kExtensions[data[0] % 5];
  const auto path = vdm::fuzz::write_scratch(std::string("input") + ext,
                                             std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  vdm::io::VideoReadOptions options;
  options.max_frames = 4;
  options.max_pixels = 1 << 20;
  options.deadline_s = 1.0;
  vdm::fuzz::expect_ok_or_error([&] {
    const auto video = vdm::io::read_video(path, options);
    if (video.frames.dim() != 4 || video.frames.size(0) != 3 || video.frames.size(1) < 1) std::abort();
  }, path);
  return 0;
}
