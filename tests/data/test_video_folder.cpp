// VideoFolder: clips written with io::write_video and listed in captions.jsonl load back at
// the requested shape (and still show what their caption says), and a bad caption file is
// rejected with the line and the problem.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/data/moving_shapes.h"
#include "vdm/data/video_folder.h"
#include "vdm/eval/detector.h"
#include "vdm/eval/report.h"
#include "vdm/io/video.h"

namespace vdm::data {
namespace {

using test::TempDir;
using test::write_bytes;

// Expects `fn` to throw vdm::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts[0];
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nlacks: " << p;
  }
}

MovingShapesSample single_object_clip(int64_t index, int64_t frames = 16) {
  MovingShapesOptions o;
  o.max_objects = 1, o.frames = frames;
  return MovingShapes(o).held_out_sample(index);
}

TEST(VideoFolder, RoundTripThroughMp4AndGif) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "sub");
  const auto a = single_object_clip(0), b = single_object_clip(1);
  io::write_video(dir.file("a.mp4"), a.frames);
  io::write_video(dir.file("sub/b.gif"), b.frames);
  write_bytes(dir.file("captions.jsonl"), "{\"file\": \"a.mp4\", \"caption\": \"" + a.caption +
                                              "\"}\n\n"
                                              "{\"file\": \"sub/b.gif\", \"caption\": \"" +
                                              b.caption + "\", \"source\": \"test\"}\r\n");

  VideoFolder folder(dir.path().string());
  ASSERT_EQ(folder.clips(), 2);
  EXPECT_EQ(folder.entry(0).caption, a.caption);
  EXPECT_EQ(folder.entry(1).file, "sub/b.gif");
  EXPECT_EQ(folder.entry(1).line, 3);
  const auto batch = folder.batch({0, 1});
  EXPECT_EQ(batch.frames.sizes(), (std::vector<int64_t>{2, 3, 16, 32, 32}));
  EXPECT_EQ(batch.captions, (std::vector<std::string>{a.caption, b.caption}));
  // Lossy codecs, same pixels within a tolerance, and the detector still reads the caption.
  EXPECT_LT((batch.frames[0] - a.frames).abs().mean().item<float>(), 0.05);
  EXPECT_LT((batch.frames[1] - b.frames).abs().mean().item<float>(), 0.05);
  for (int i = 0; i < 2; ++i) {
    const auto s =
        eval::score(eval::detect(batch.frames[i]), batch.captions[static_cast<size_t>(i)]);
    EXPECT_TRUE(s.objects[0].all_correct()) << batch.captions[static_cast<size_t>(i)];
  }

  // Other sizes: 48x32 source, 24x24 requested: scaled to cover, then centre-cropped.
  const auto wide = torch::rand({3, 8, 32, 48}) * 2 - 1;
  io::write_video(dir.file("wide.mp4"), wide);
  write_bytes(dir.file("wide.jsonl"), "{\"file\": \"wide.mp4\", \"caption\": \"noise\"}\n");
  VideoFolderOptions o;
  o.frames = 8, o.height = 24, o.width = 24, o.captions_file = "wide.jsonl";
  EXPECT_EQ(VideoFolder(dir.path().string(), o).load(0).sizes(),
            (std::vector<int64_t>{3, 8, 24, 24}));

  auto data =
      open_dataset("folder:" + dir.path().string(), {.frames = 4, .height = 16, .width = 16});
  EXPECT_EQ(data->size(), std::optional<int64_t>(2));
  EXPECT_EQ(data->batch({1}).frames.sizes(), (std::vector<int64_t>{1, 3, 4, 16, 16}));
}

TEST(VideoFolder, ShortClipsAreAnErrorUnlessPadded) {
  TempDir dir;
  const auto clip = single_object_clip(2, 6);
  io::write_video(dir.file("short.gif"), clip.frames);
  write_bytes(dir.file("captions.jsonl"), "{\"file\": \"short.gif\", \"caption\": \"x\"}\n");
  VideoFolder strict(dir.path().string());
  expect_error([&] { strict.load(0); }, {"short.gif", "6 frames", "16 are needed"});

  VideoFolderOptions o;
  o.pad_short_clips = true;
  const auto padded = VideoFolder(dir.path().string(), o).load(0);
  ASSERT_EQ(padded.size(1), 16);
  for (int64_t f = 6; f < 16; ++f)
    EXPECT_TRUE(torch::equal(padded.select(1, f), padded.select(1, 5)));
}

TEST(VideoFolder, RejectsBadCaptionFiles) {
  TempDir dir;
  io::write_video(dir.file("ok.mp4"), single_object_clip(3).frames);
  write_bytes(dir.file("notes.txt"), "not a video");
  const std::string ok = "{\"file\": \"ok.mp4\", \"caption\": \"fine\"}\n";
  auto open_with = [&](const std::string& second_line) {
    write_bytes(dir.file("captions.jsonl"), ok + second_line + "\n");
    return [&] { VideoFolder folder(dir.path().string()); };
  };
  expect_error(open_with("{\"file\": \"ok.mp4\", \"caption\": "), {"line 2"});
  expect_error(open_with("[1, 2]"), {"line 2", "JSON object"});
  expect_error(open_with("{\"caption\": \"x\"}"), {"line 2", "\"file\""});
  expect_error(open_with("{\"file\": \"ok.mp4\", \"caption\": 3}"), {"line 2", "\"caption\""});
  expect_error(open_with("{\"file\": \"ok.mp4\", \"caption\": \"  \"}"), {"line 2", "empty"});
  expect_error(open_with("{\"file\": \"../ok.mp4\", \"caption\": \"x\"}"),
               {"line 2", "outside the folder"});
  expect_error(open_with("{\"file\": \"sub/../../x.mp4\", \"caption\": \"x\"}"),
               {"line 2", "outside"});
  expect_error(open_with("{\"file\": \"/etc/passwd\", \"caption\": \"x\"}"),
               {"line 2", "relative"});
  expect_error(open_with("{\"file\": \"missing.mp4\", \"caption\": \"x\"}"),
               {"line 2", "no such clip"});
  expect_error(open_with("{\"file\": \"notes.txt\", \"caption\": \"x\"}"),
               {"line 2", "not a video"});
  expect_error(open_with("{\"file\": \"ok.mp4\", \"file\": \"ok.mp4\", \"caption\": \"x\"}"),
               {"line 2"});

  // A symlink inside the folder that leads out of it is outside too.
  TempDir elsewhere;
  io::write_video(elsewhere.file("secret.mp4"), single_object_clip(4).frames);
  std::filesystem::create_symlink(elsewhere.file("secret.mp4"), dir.file("link.mp4"));
  expect_error(open_with("{\"file\": \"link.mp4\", \"caption\": \"x\"}"),
               {"line 2", "outside the folder"});

  write_bytes(dir.file("captions.jsonl"), "\n  \n");
  expect_error([&] { VideoFolder folder(dir.path().string()); }, {"lists no clips"});
  std::filesystem::remove(dir.file("captions.jsonl"));
  expect_error([&] { VideoFolder folder(dir.path().string()); }, {"no captions.jsonl"});
  expect_error([&] { VideoFolder folder(dir.file("nope")); }, {"not a directory"});
  EXPECT_THROW(open_dataset("folder:"), Error);
  EXPECT_THROW(open_dataset("clips/"), Error);
}

}  // namespace
}  // namespace vdm::data
