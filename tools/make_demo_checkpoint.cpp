// Writes a small random checkpoint (a toy 3D conv net's weights, diffusers-style names) so that
// `vdm info` has a real file to show on a fresh machine before any model is trained.
// Usage: vdm_make_demo_checkpoint OUT.safetensors
#include <cstdio>

#include "vdm/core/error.h"
#include "vdm/io/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.safetensors\n", argv[0]);
    return 2;
  }
  try {
    torch::manual_seed(0);
    vdm::io::TensorList tensors = {
        {"conv_in.weight", torch::randn({8, 3, 1, 3, 3}) * 0.1},
        {"conv_in.bias", torch::zeros({8})},
        {"temporal_conv.weight", torch::randn({8, 8, 3, 1, 1}) * 0.1},
        {"temporal_conv.bias", torch::zeros({8})},
        {"norm.weight", torch::ones({8})},
        {"norm.bias", torch::zeros({8})},
        {"conv_out.weight", torch::randn({3, 8, 1, 3, 3}) * 0.1},
        {"conv_out.bias", torch::zeros({3})},
    };
    vdm::io::save_safetensors(argv[1], tensors,
                              {{"format", "pt"}, {"vdm.note", "demo checkpoint made by the build"}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
