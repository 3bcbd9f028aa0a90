// A checkpoint's metadata carries the config of the model its weights fill. A hostile or
// damaged config that describes a model far larger than the file must be refused before the
// model is built (reliability issue: no input makes vdm allocate much more than its size).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/safetensors.h"
#include "vdm/models/unet3d.h"
#include "vdm/models/weights.h"
#include "vdm/train/text_video_model.h"

namespace vdm::train {
namespace {

TEST(HostileCheckpoint, AHugeModelInASmallFileIsRefusedBeforeAllocating) {
  test::TempDir dir;
  auto config = TextVideoConfig::tiny();
  config.unet.block_out_channels = {8192, 8192, 8192, 8192};  // ~ 10^11 parameters
  config.unet.attention_levels = {false, false, false, false};
  config.unet.norm_num_groups = 8;
  config.unet.attention_head_dim = {64};
  const auto path = dir.file("hostile.safetensors");
  io::save_safetensors(path, {{"unet.conv_in.weight", torch::zeros({8})}},
                       {{"vdm.text_to_video", config.to_json().dump()}});
  const auto start = std::chrono::steady_clock::now();
  try {
    load_text_video_model(path);
    FAIL() << "a 10^11-parameter model was built from a tiny file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("hostile.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("refusing"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  const auto r = test::run_vdm("--threads 1 generate \"a red circle moving right\" --checkpoint " + path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("refusing"), std::string::npos) << r.output;
}

TEST(HostileCheckpoint, TheBoundHoldsForRealModelsWithRoomToSpare) {
  // The bound must never refuse an honest file: it is at least the true count, and honest
  // files (float32 weights, at least one copy) fit easily.
  const auto shipped = read_text_video_config(std::string(VDM_SOURCE_DIR) + "/models/vdm-moving-shapes.safetensors");
  auto with_temporal_convs = shipped.unet;
  with_temporal_convs.temporal_conv = true;
  for (const auto& config : {models::UNet3DConfig::tiny(), TextVideoConfig::tiny().unet, shipped.unet, with_temporal_convs}) {
    models::UNet3D unet(config);
    double count = 0;
    for (const auto& p : unet->parameters()) count += static_cast<double>(p.numel());
    EXPECT_GE(config.parameter_bound(), count);
    EXPECT_LE(config.parameter_bound(), 40 * count);
    // A bf16 copy of the weights (2 bytes each) is enough to pass.
    EXPECT_NO_THROW(models::check_model_fits_file(config.parameter_bound(), static_cast<uint64_t>(2 * count), "f"));
  }
  const auto te = TextVideoConfig::tiny().text_encoder;
  EXPECT_GT(te.parameter_bound(), 0);
  // ModelScope's U-Net (1.4e9 parameters, 5.6 GB in float32): its bound fits its own file.
  const auto modelscope = models::UNet3DConfig::modelscope();
  EXPECT_NO_THROW(models::check_model_fits_file(modelscope.parameter_bound(), 2'800'000'000ull, "modelscope (f16)"));
}

}  // namespace
}  // namespace vdm::train
