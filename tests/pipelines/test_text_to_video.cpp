// The text-to-video pipeline on a tiny untrained model, and `vdm generate` / `vdm eval`
// through the binary.
#include <gtest/gtest.h>

#include <limits>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"
#include "vdm/pipelines/text_to_video.h"
#include "vdm/train/text_video_model.h"

namespace vdm::pipelines {
namespace {

train::TextVideoModel tiny_model() {
  torch::manual_seed(0);
  return train::make_text_video_model(train::TextVideoConfig::tiny());
}

TEST(PipelineTextToVideo, GeneratesTheModelsClipShapeDeterministicallyPerSeed) {
  TextToVideoPipeline pipe(tiny_model());
  TextToVideoParams params;
  params.steps = 3;
  params.seed = 5;
  const auto a = pipe.generate("a red circle moving right", params);
  ASSERT_EQ(a.sizes(), torch::IntArrayRef({3, 4, 16, 16}));
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
  EXPECT_LE(a.abs().max().item<double>(), 1.0);
  EXPECT_TRUE(torch::equal(a, pipe.generate("a red circle moving right", params)));
  params.seed = 6;
  EXPECT_FALSE(torch::equal(a, pipe.generate("a red circle moving right", params)));

  // In a batch, an item is the clip its prompt/seed pair gives alone.
  params.seed = 5;
  const auto batch = pipe.generate_batch({"a blue square moving up", "a red circle moving right"}, {9, 5}, params);
  ASSERT_EQ(batch.sizes(), torch::IntArrayRef({2, 3, 4, 16, 16}));
  EXPECT_LT((batch[1] - a).abs().max().item<double>(), 1e-4);

  params.frames = 6;
  params.guidance = 1.0;
  params.sampler = "ddim";
  EXPECT_EQ(pipe.generate("a red circle moving right", params).size(1), 6);
}

TEST(PipelineTextToVideo, NonFiniteSamplesStopWithAnErrorInsteadOfABlackVideo) {
  auto model = tiny_model();
  {
    torch::NoGradGuard no_grad;
    model.unet->named_parameters()["conv_out.weight"].view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  }
  TextToVideoPipeline pipe(std::move(model));
  TextToVideoParams params;
  params.steps = 2;
  try {
    pipe.generate("a red circle moving right", params);
    FAIL() << "a NaN sample was returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
}

TEST(PipelineTextToVideo, UnknownWordsAreAnErrorUnlessAllowed) {
  TextToVideoPipeline pipe(tiny_model());
  TextToVideoParams params;
  params.steps = 1;
  try {
    pipe.generate("a red dog moving right", params);
    FAIL() << "expected vdm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'dog'"), std::string::npos) << e.what();
  }
  params.allow_unknown_words = true;
  EXPECT_NO_THROW(pipe.generate("a red dog moving right", params));
}

TEST(PipelineTextToVideo, PromptSlugs) {
  EXPECT_EQ(prompt_slug("a red circle moving right"), "a-red-circle-moving-right");
  EXPECT_EQ(prompt_slug("  A Blue square, moving UP-LEFT!  "), "a-blue-square-moving-up-left");
  EXPECT_EQ(prompt_slug("?!"), "video");
  EXPECT_EQ(prompt_slug(std::string(200, 'x')).size(), 80u);
}

// vdm sample --checkpoint CK --prompt P: the pipeline with sample's flags, to a video or a tensor.
TEST(PipelineSampleCli, SamplesATextToVideoCheckpointToAVideoOrATensor) {
  vdm::test::TempDir dir;
  const std::string model = dir.file("tiny.safetensors");
  train::save_text_video_model(model, tiny_model());
  const std::string base = "sample --checkpoint " + model + " --prompt \"a blue square moving up\" --threads 1 -q";
  auto r = vdm::test::run_vdm(base + " --steps 3 --sampler ddim --guidance 2 --seed 4 --frames 6 -o " +
                              dir.file("clip.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto file = io::load_safetensors(dir.file("clip.safetensors"));
  EXPECT_EQ(file.at("sample").sizes(), torch::IntArrayRef({1, 3, 6, 16, 16}));
  EXPECT_EQ(file.metadata.at("prompt"), "a blue square moving up");
  // The same seed and settings (one thread, as the command) give the same clip as the pipeline.
  vdm::test::ThreadCount one_thread(1);
  auto pipe = TextToVideoPipeline::load(model);
  TextToVideoParams params;
  params.sampler = "ddim";
  params.steps = 3;
  params.guidance = 2;
  params.seed = 4;
  params.frames = 6;
  EXPECT_TRUE(torch::allclose(file.at("sample")[0], pipe.generate("a blue square moving up", params), 1e-5, 1e-6));

  r = vdm::test::run_vdm(base + " --steps 2 -o " + dir.file("clip.gif"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("clip.gif")));

  EXPECT_EQ(vdm::test::run_vdm("sample --checkpoint " + model + " -o " + dir.file("x.gif")).exit_code, 2);  // no prompt
  EXPECT_EQ(vdm::test::run_vdm(base + " --shape 1,3,4,16,16 -o " + dir.file("x.gif")).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm(base + " --frames 0 -o " + dir.file("x.gif")).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm(base + " --sampler nope -o " + dir.file("x.gif")).exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm("sample --prompt \"a red circle\" --shape 1,3,4,8,8 -o " + dir.file("x.gif") +
                               " --model gaussian:mean=0,std=1")
                .exit_code,
            2);  // --prompt without --checkpoint
}

TEST(PipelineGenerateCli, WritesThePromptSlugVideoAndValidatesFlags) {
  vdm::test::TempDir dir;
  const std::string model = dir.file("tiny.safetensors");
  train::save_text_video_model(model, tiny_model());
  // Run inside `dir`: the default output name lands there.
  auto r = vdm::test::run_vdm("generate \"a red circle moving right\" --checkpoint " + model + " --steps 2 --threads 1 -q",
                              dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("a-red-circle-moving-right.mp4"))) << r.output;
  EXPECT_NE(r.output.find("4 frames 16x16"), std::string::npos) << r.output;

  r = vdm::test::run_vdm("generate \"a red circle moving right\" --checkpoint " + model + " --steps 2 -q --threads 1 -o " +
                         dir.file("clip.gif"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("clip.gif")));

  const std::string base = "generate \"a red circle moving right\" --checkpoint " + model + " -q";
  EXPECT_EQ(vdm::test::run_vdm(base + " --steps 0").exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm(base + " -o out.txt").exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm(base + " --sampler nope").exit_code, 2);
  EXPECT_EQ(vdm::test::run_vdm(base + " --guidance -1").exit_code, 2);
  auto missing = vdm::test::run_vdm(base + " -o " + dir.file("no/such/folder/clip.mp4"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("does not exist"), std::string::npos) << missing.output;
  EXPECT_EQ(vdm::test::run_vdm("generate \"  \" --checkpoint " + model).exit_code, 2);

  r = vdm::test::run_vdm("generate \"a red dog moving right\" --checkpoint " + model + " -q -o " + dir.file("d.gif"));
  EXPECT_EQ(r.exit_code, 2) << r.output;  // the user's prompt to fix: a usage error
  EXPECT_NE(r.output.find("'dog'"), std::string::npos) << r.output;
  r = vdm::test::run_vdm("generate \"a red dog moving right\" --allow-unknown-words --steps 1 --checkpoint " + model +
                         " -q --threads 1 -o " + dir.file("d.gif"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = vdm::test::run_vdm("generate \"a red circle\" --checkpoint " + dir.file("missing.safetensors"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--checkpoint"), std::string::npos) << r.output;
}

TEST(PipelineEvalCli, ScoresHeldOutPromptsAndWritesTheReports) {
  vdm::test::TempDir dir;
  const std::string model = dir.file("tiny.safetensors");
  train::save_text_video_model(model, tiny_model());
  const std::string out = dir.file("eval");
  const auto r = vdm::test::run_vdm("eval --checkpoint " + model + " --count 3 --batch 2 --grid 2 --steps 2 --out " +
                                    out + " --threads 1 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("colour"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(out + "/grid.png"));
  EXPECT_TRUE(std::filesystem::is_regular_file(out + "/report.md"));
  const auto json = io::read_json_file(out + "/report.json");
  EXPECT_EQ(json["items"].size(), 3u);
  EXPECT_EQ(json["settings"]["count"].get<int64_t>(), 3);
  EXPECT_EQ(vdm::test::run_vdm("eval --checkpoint " + model + " --count 0").exit_code, 2);
}

}  // namespace
}  // namespace vdm::pipelines
