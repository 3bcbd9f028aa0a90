// libFuzzer target: a training run's config (vdm train --config) and the training state a
// checkpoint carries (read on --resume), both JSON.
#include "fuzz_util.h"
#include "vdm/io/json.h"
#include "vdm/train/checkpoint.h"
#include "vdm/train/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = vdm::fuzz::write_scratch("train.json", std::string_view(reinterpret_cast<const char*>(data), size));
  vdm::fuzz::expect_ok_or_error([&] { vdm::train::RunConfig::from_file(path); }, path);
  vdm::io::Json json;
  try {
    json = vdm::io::read_json_file(path);
  } catch (const vdm::Error&) {
    return 0;
  }
  vdm::fuzz::expect_ok_or_error([&] { vdm::train::TrainState::from_json(json); });
  return 0;
}
