// Parity with diffusers' UNet3DConditionModel (fixtures: tools/make_unet3d_fixtures.py, three
// tiny random configurations differing in block types, layers per block, head widths, text
// widths and spatial size).
#include <gtest/gtest.h>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/checkpoint.h"
#include "vdm/models/unet3d.h"
#include "vdm/models/weights.h"

namespace {

using vdm::test::fixture;

vdm::models::UNet3D load_fixture_unet(const std::string& name) {
  const std::string folder = fixture("unet3d/" + name);
  auto config = vdm::models::UNet3DConfig::from_file(folder + "/config.json");
  vdm::models::UNet3D unet(config);
  vdm::models::load_weights(*unet, vdm::io::load_checkpoint(folder), folder);
  unet->eval();
  return unet;
}

class UNet3DParity : public ::testing::TestWithParam<std::string> {};

TEST_P(UNet3DParity, ForwardMatchesDiffusers) {
  auto unet = load_fixture_unet(GetParam());
  const auto io = vdm::io::load_safetensors(fixture("unet3d/" + GetParam() + "/io.safetensors"));
  torch::NoGradGuard no_grad;
  auto out = unet->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"));
  const auto& expected = io.at("output");
  ASSERT_EQ(out.sizes(), expected.sizes());
  const double diff = (out - expected).abs().max().item<double>();
  const double scale = expected.abs().max().item<double>();
  std::printf("[%s] max |vdm - diffusers| = %.3g (output max %.3g)\n", GetParam().c_str(), diff, scale);
  EXPECT_LT(diff, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Configs, UNet3DParity, ::testing::Values("a", "b", "c"));

TEST(UNet3DParityLoad, MismatchesAreListedInOneError) {
  // Config b's weights into config a's model: every kind of mismatch at once.
  auto config = vdm::models::UNet3DConfig::from_file(fixture("unet3d/a/config.json"));
  vdm::models::UNet3D unet(config);
  try {
    vdm::models::load_weights(*unet, vdm::io::load_checkpoint(fixture("unet3d/b")), "b");
    FAIL() << "expected an error";
  } catch (const vdm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unexpected key"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("problems"), std::string::npos) << msg;
  }
  // A missing tensor is named.
  auto file = vdm::io::load_checkpoint(fixture("unet3d/a"));
  file.tensors.erase(file.tensors.begin());
  const std::string missing = vdm::io::load_checkpoint(fixture("unet3d/a")).tensors.front().first;
  try {
    vdm::models::load_weights(*unet, file, "a");
    FAIL();
  } catch (const vdm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key '" + missing + "'"), std::string::npos) << e.what();
  }
}

}  // namespace
