// libFuzzer target: a diffusers scheduler_config.json (DDIM, DDPM, DPM-Solver++, Euler):
// parsing, validation, and building the timestep plan a sampler would use.
#include "fuzz_util.h"
#include "vdm/diffusion/scheduler_config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vdm::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = vdm::fuzz::write_scratch("scheduler_config.json",
                                             std::string_view(reinterpret_cast<const char*>(data), size));
  vdm::fuzz::expect_ok_or_error([&] { vdm::diffusion::load_scheduler_config(path); }, path);
  return 0;
}
