// Every CLI flag is validated (reliability issue): a bad value, a missing or unreadable file,
// an output in a missing folder, an unknown name. Each case must exit with code 2 and print
// `error: ...` naming the flag, before any long work starts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "support/test_util.h"
#include "vdm/io/safetensors.h"
#if VDM_WITH_FFMPEG
#include "vdm/io/video.h"
#endif

namespace vdm {
namespace {

struct BadFlag {
  std::string args;  // after `vdm --threads 1` (unless they set --threads)
  std::vector<std::string> says;  // substrings the message must contain (the flag, accepted values)
};

void expect_usage_errors(const std::vector<BadFlag>& cases, const std::string& cwd = "") {
  for (const auto& c : cases) {
    SCOPED_TRACE("vdm " + c.args);
    const auto r = test::run_vdm((c.args.rfind("--threads", 0) == 0 ? "" : "--threads 1 ") + c.args, cwd);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << "the message should start with 'error: ': " << r.output;
    for (const auto& s : c.says) EXPECT_NE(r.output.find(s), std::string::npos) << "missing '" << s << "' in: " << r.output;
  }
}

const std::string kPrompt = "\"a red circle moving right\"";

TEST(CliFlags, GlobalFlags) {
  expect_usage_errors({
      {"--device tpu generate " + kPrompt, {"--device", "cpu", "cuda"}},
      {"--device cuda:x generate " + kPrompt, {"--device"}},
      {"--dtype f64 generate " + kPrompt, {"--dtype", "bf16"}},
      {"--log-level loud generate " + kPrompt, {"--log-level", "warn"}},
      {"--threads -2 generate " + kPrompt, {"--threads"}},
      {"--threads 100000 generate " + kPrompt, {"--threads"}},
      {"frobnicate", {"frobnicate"}},
      {"generate " + kPrompt + " --no-such-flag", {"--no-such-flag"}},
  });
}

TEST(CliFlags, Generate) {
  test::TempDir dir;
  test::write_bytes(dir.file("not_a_model.safetensors"), "not a safetensors file at all");
  expect_usage_errors({
      {"generate " + kPrompt + " --steps 0", {"--steps"}},
      {"generate " + kPrompt + " --steps -3", {"--steps"}},
      {"generate " + kPrompt + " --steps 100000", {"--steps"}},
      {"generate " + kPrompt + " --frames 0", {"--frames"}},
      {"generate " + kPrompt + " --frames 100000", {"--frames"}},
      {"generate " + kPrompt + " --sampler heun", {"--sampler", "ddim", "dpmpp_2m"}},
      {"generate " + kPrompt + " --guidance -1", {"--guidance"}},
      {"generate " + kPrompt + " --guidance nan", {"--guidance"}},
      {"generate " + kPrompt + " --fps 0", {"--fps"}},
      {"generate " + kPrompt + " --seed -1", {"--seed"}},
      {"generate " + kPrompt + " --checkpoint " + dir.file("missing.safetensors"), {"--checkpoint", "missing.safetensors"}},
      {"generate " + kPrompt + " -o " + dir.file("no/such/folder/clip.mp4"), {"--output", "no/such/folder"}},
      {"generate " + kPrompt + " -o " + dir.file("clip.txt"), {"--output", ".mp4"}},
      {"generate \"\"", {"PROMPT"}},
      {"generate \"a red circle moving sideways\"", {"sideways", "--allow-unknown-words"}},
  });
}

TEST(CliFlags, Sample) {
  test::TempDir dir;
  const std::string out = " -o " + dir.file("x.safetensors");
  expect_usage_errors({
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --steps 0" + out, {"--steps"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,0,8,8" + out, {"--shape"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4" + out, {"--shape"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,x" + out, {"--shape"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --sampler heun" + out, {"--sampler", "ddim"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --prediction w" + out, {"--prediction", "eps", "v"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --eta -1" + out, {"--eta"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --fps 0" + out, {"--fps"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --guidance -2" + out, {"--guidance"}},
      {"sample --model " + dir.file("missing") + out, {"--model", "missing"}},
      {"sample --model " + dir.file("missing.safetensors") + out, {"--model", "missing.safetensors"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --scheduler-config " + dir.file("missing.json") + out, {"--scheduler-config"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --scheduler Heun --scheduler-config " +
           vdm::test::fixture("schedulers/ddim_leading_eps_sd/scheduler_config.json") + out,
       {"--scheduler", "DDIMScheduler"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --latents " + dir.file("missing.safetensors") + out, {"--latents"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 --prompt-embeds " + dir.file("missing.safetensors") + out, {"--prompt-embeds"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 -o " + dir.file("no/folder/x.safetensors"), {"--output", "no/folder"}},
      {"sample --model gaussian:mean=0,std=1 --shape 1,3,4,8,8 -o " + dir.file("x.bin"), {"--output", ".safetensors"}},
      {"sample --checkpoint " + dir.file("missing.safetensors") + " --prompt x" + out, {"--checkpoint"}},
  });
}

TEST(CliFlags, Train) {
  test::TempDir dir;
  const std::string out = " --config " + std::string(VDM_FIXTURES_DIR) + "/../../configs/moving_shapes_small.json --out " +
                          dir.file("run");
  expect_usage_errors({
      {"train --config " + dir.file("missing.json") + " --out " + dir.file("run"), {"--config", "missing.json"}},
      {"train --data imagenet" + out, {"--data", "synthetic:moving-shapes", "folder:"}},
      {"train --data synthetic:mnist" + out, {"--data", "synthetic:moving-shapes"}},
      {"train --data folder:" + dir.file("no_such_folder") + out, {"--data", "no_such_folder"}},
      {"train --steps 0" + out, {"--steps"}},
      {"train --steps -5" + out, {"--steps"}},
      {"train --precision f64" + out, {"--precision", "bf16"}},
      {"train --init " + dir.file("missing.safetensors") + out, {"--init", "missing.safetensors"}},
      {"train --resume --out " + dir.file("run"), {"--resume", "checkpoint"}},
      {"train", {"--out"}},
  });
}

TEST(CliFlags, Eval) {
  test::TempDir dir;
  const std::string out = " --out " + dir.file("eval");
  expect_usage_errors({
      {"eval --count 0" + out, {"--count"}},
      {"eval --count -4" + out, {"--count"}},
      {"eval --batch 0" + out, {"--batch"}},
      {"eval --grid -1" + out, {"--grid"}},
      {"eval --steps 0" + out, {"--steps"}},
      {"eval --sampler heun" + out, {"--sampler", "ddim"}},
      {"eval --guidance -1" + out, {"--guidance"}},
      {"eval --task upscale" + out, {"--task", "generate", "interpolate"}},
      {"eval --weight -1" + out, {"--weight"}},
      {"eval --checkpoint " + dir.file("missing.safetensors") + out, {"--checkpoint"}},
  });
}

#if VDM_WITH_FFMPEG
TEST(CliFlags, ExtendAndInterpolate) {
  test::TempDir dir;
  const auto clip = dir.file("clip.mp4");
  io::write_video(clip, torch::zeros({3, 8, 32, 32}));
  test::write_bytes(dir.file("notes.txt"), "not a video");
  const std::string in = " --input " + clip;
  expect_usage_errors({
      {"extend --frames 0" + in, {"--frames"}},
      {"extend --frames 4" + in, {"--frames", "8"}},
      {"extend --frames 100000" + in, {"--frames"}},
      {"extend --frames 32 --overlap 0" + in, {"--overlap"}},
      {"extend --frames 32 --overlap 16" + in, {"--overlap"}},
      {"extend --frames 32 --method magic" + in, {"--method", "reconstruction", "replacement"}},
      {"extend --frames 32 --weight -1" + in, {"--weight"}},
      {"extend --frames 32 --steps 0" + in, {"--steps"}},
      {"extend --frames 32 --sampler heun" + in, {"--sampler"}},
      {"extend --frames 32 --fps 0" + in, {"--fps"}},
      {"extend --frames 32 --input " + dir.file("missing.mp4"), {"--input", "missing.mp4"}},
      {"extend --frames 32 --input " + dir.file("notes.txt"), {"--input", "notes.txt"}},
      {"extend --frames 32 -o " + dir.file("no/folder/x.mp4") + in, {"--output", "no/folder"}},
      {"interpolate --factor 0" + in, {"--factor"}},
      {"interpolate --factor 1" + in, {"--factor"}},
      {"interpolate --factor 1000" + in, {"--factor"}},
      {"interpolate --factor 2 --input " + dir.file("missing.gif"), {"--input", "missing.gif"}},
      {"interpolate --factor 2 --weight nan" + in, {"--weight"}},
  });
}
#endif

TEST(CliFlags, Info) {
  test::TempDir dir;
  expect_usage_errors({
      {"info " + dir.file("missing.safetensors"), {"PATH", "missing.safetensors"}},
      {"info", {"PATH"}},
  });
}

}  // namespace
}  // namespace vdm
