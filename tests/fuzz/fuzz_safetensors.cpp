// libFuzzer target: a .safetensors file (header JSON, dtypes, shapes, offsets, the data buffer).
// The header is parsed from memory; then the same bytes are loaded from a file (the mmap path
// every checkpoint takes) and each tensor is read, so a header that passes but lies about its
// data would show up as an out-of-bounds read under AddressSanitizer.
#include <torch/torch.h>

#include "fuzz_util.h"
#include "vdm/io/safetensors.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vdm::fuzz::expect_ok_or_error([&] { vdm::io::parse_safetensors_header(data, size, "fuzz.safetensors"); },
                                "fuzz.safetensors");
  const auto path = vdm::fuzz::write_scratch(
      "input.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
  vdm::fuzz::expect_ok_or_error([&] {
    const auto file = vdm::io::load_safetensors(path);
    for (const auto& [name, tensor] : file.tensors) {
      if (tensor.numel() > 0) (void)tensor.to(torch::kFloat64).sum().item<double>();
    }
  }, path);
  return 0;
}
