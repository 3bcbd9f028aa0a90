// libFuzzer target: a sharded checkpoint's model.safetensors.index.json. The input is the
// index; two valid shards sit beside it (made once), so the fuzzer explores the weight map:
// names mapped to missing, foreign or escaping files ("../", absolute paths), duplicates,
// names a shard lacks or has in excess, and malformed JSON.
#include <torch/torch.h>

#include "fuzz_util.h"
#include "vdm/io/safetensors.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  const auto dir = vdm::fuzz::scratch() / "sharded";
  std::filesystem::create_directories(dir);
  vdm::io::save_safetensors((dir / "model-00001-of-00002.safetensors").string(),
                            {{"a.weight", torch::ones({2, 3})}, {"b.bias", torch::zeros({4})}});
  vdm::io::save_safetensors((dir / "model-00002-of-00002.safetensors").string(),
                            {{"c.weight", torch::arange(6, torch::kFloat32).view({3, 2})}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = vdm::fuzz::write_scratch("sharded/model.safetensors.index.json",
                                             std::string_view(reinterpret_cast<const char*>(data), size));
  vdm::fuzz::expect_ok_or_error([&] { vdm::io::load_sharded_safetensors(path); }, "model.safetensors.index.json");
  return 0;
}
