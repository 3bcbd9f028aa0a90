// libFuzzer target: model configs as JSON text, in every form vdm reads one: a diffusers
// UNet3DConditionModel config.json, vdm's own U-Net config, the text-to-video model config a
// checkpoint carries in its metadata, and the text encoder's. Parsing and validation only:
// no model is built here (model size is bounded separately; docs/reliability.md).
#include "fuzz_util.h"
#include "vdm/io/json.h"
#include "vdm/models/text_encoder.h"
#include "vdm/models/unet3d.h"
#include "vdm/train/text_video_model.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // As a file (a diffusers model folder's config.json): errors name it.
  const auto path = vdm::fuzz::write_scratch("config.json", text);
  vdm::fuzz::expect_ok_or_error([&] { vdm::models::UNet3DConfig::from_file(path); }, path);
  vdm::io::Json json;
  try {
    json = vdm::io::parse_json(text, "fuzz config.json");
  } catch (const vdm::Error&) {
    return 0;
  }
  vdm::fuzz::expect_ok_or_error([&] { vdm::models::UNet3DConfig::from_diffusers(json); });
  vdm::fuzz::expect_ok_or_error([&] { vdm::models::UNet3DConfig::from_json(json); });
  vdm::fuzz::expect_ok_or_error([&] { vdm::train::TextVideoConfig::from_json(json); });
  vdm::fuzz::expect_ok_or_error([&] { vdm::models::TextEncoderConfig::from_json(json); });
  return 0;
}
