// Extension and interpolation (pipelines/extend_interpolate.h) on a tiny untrained model: the
// given frames come through unchanged, the lengths are right, and `vdm extend` /
// `vdm interpolate` write the file and reject bad flags.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/video.h"
#include "vdm/pipelines/extend_interpolate.h"
#include "vdm/train/text_video_model.h"

namespace vdm::pipelines {
namespace {

TextToVideoPipeline tiny_pipeline() {
  torch::manual_seed(0);
  return TextToVideoPipeline(train::make_text_video_model(train::TextVideoConfig::tiny()));
}

torch::Tensor clip_of(int64_t frames) {  // the tiny model's 16x16
  torch::manual_seed(7);
  return torch::rand({3, frames, 16, 16}) * 2 - 1;
}

ConditionalVideoParams fast() {
  ConditionalVideoParams p;
  p.sampling.steps = 2;
  return p;
}

TEST(PipelineExtend, KeepsTheClipAndReachesTheLengthWindowByWindow) {
  auto pipe = tiny_pipeline();
  const auto clip = clip_of(3);
  auto params = fast();
  int64_t windows = 0, announced = 0;
  params.on_window = [&](int64_t index, int64_t count) {
    EXPECT_EQ(index, windows++);
    announced = count;
  };
  // The tiny model makes 4-frame windows; overlap 2: 3 + 2 + 2 + 2 + 1 = 10 frames in 4 windows.
  const auto out = extend_video(pipe, clip, 10, "a red circle moving right", params);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({3, 10, 16, 16}));
  EXPECT_TRUE(torch::equal(out.slice(1, 0, 3), clip));
  EXPECT_EQ(windows, 4);
  EXPECT_EQ(announced, 4);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  // Reconstruction guidance and replacement differ in the new frames.
  params.weight = 0.0;
  params.on_window = {};
  const auto replaced = extend_video(pipe, clip, 10, "a red circle moving right", params);
  EXPECT_GT((replaced - out).abs().max().item<double>(), 1e-4);
  EXPECT_THROW(extend_video(pipe, clip, 3, "", params), Error);                 // not longer
  EXPECT_THROW(extend_video(pipe, clip_of(3).slice(2, 0, 8), 8, "", params), Error);  // wrong size
}

TEST(PipelineInterpolate, GivenFramesLandAtEveryFactorthPosition) {
  auto pipe = tiny_pipeline();
  const auto clip = clip_of(5);
  for (int64_t factor : {2, 3}) {
    const auto out = interpolate_video(pipe, clip, factor, "", fast());  // unconditional
    ASSERT_EQ(out.size(1), 4 * factor + 1);
    for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(torch::equal(out.select(1, i * factor), clip.select(1, i))) << i;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
  EXPECT_THROW(interpolate_video(pipe, clip, 4, "", fast()), Error);  // a 4-frame window holds factor <= 3
  EXPECT_THROW(interpolate_video(pipe, clip_of(1), 2, "", fast()), Error);
}

TEST(PipelineExtendCli, WritesTheLongerAndTheSmootherClipAndValidatesFlags) {
  vdm::test::TempDir dir;
  const std::string model = dir.file("tiny.safetensors");
  torch::manual_seed(0);
  train::save_text_video_model(model, train::make_text_video_model(train::TextVideoConfig::tiny()));
  const std::string input = dir.file("in.gif");
  io::write_video(input, clip_of(4));
  const std::string common = " --checkpoint " + model + " --steps 2 --threads 1";

  auto r = vdm::test::run_vdm("extend --input " + input + " --frames 9 --prompt \"a red circle moving up\"" + common,
                              dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("window 1/"), std::string::npos) << r.output;  // progress
  ASSERT_TRUE(std::filesystem::is_regular_file(dir.file("in-extended.mp4"))) << r.output;
  EXPECT_EQ(io::read_video(dir.file("in-extended.mp4")).frames.size(1), 9);

  r = vdm::test::run_vdm("interpolate --input " + input + " --factor 2 -o " + dir.file("x2.gif") + common);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_video(dir.file("x2.gif")).frames.size(1), 7);

  EXPECT_EQ(vdm::test::run_vdm("extend --input " + input + " --frames 0" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("extend --input " + input + " --frames 3" + common).exit_code, 2);  // not longer
  EXPECT_EQ(vdm::test::run_vdm("extend --input " + dir.file("missing.gif") + " --frames 9" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("extend --input " + input + " --frames 9 --method magic" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("extend --input " + input + " --frames 9 --weight -1" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("interpolate --input " + input + " --factor 1" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("interpolate --input " + input + " --factor 2 -o x.txt" + common).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("interpolate --input " + input + " --factor 2 -o " + dir.file("none/x.gif") + common)
                .exit_code,
            2);
  r = vdm::test::run_vdm("extend --input " + model + " --frames 9" + common);  // not a video
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace vdm::pipelines
