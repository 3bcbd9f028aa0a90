// Can a text-to-video model tell which way time runs? Reversing the frames of a clip that moves
// right gives one that moves left, so a U-Net that is equivariant to time reversal,
// f(reverse(z_t)) == reverse(f(z_t)), samples "moving right" and "moving left" alike: each
// direction and its opposite are equally likely whatever the prompt says.
//
// Prints, at several noise levels, the relative distance from equivariance next to how much
// the output depends on the direction word. docs/training.md has the shipped model's numbers.
// Usage: vdm_probe_time_reversal MODEL.safetensors ["a red circle moving right" "a red circle moving left"]
#include <cstdio>
#include <string>

#include "vdm/core/error.h"
#include "vdm/train/text_video_model.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors [PROMPT OTHER_PROMPT]\n", argv[0]);
    return 2;
  }
  try {
    torch::NoGradGuard no_grad;
    auto model = vdm::train::load_text_video_model(argv[1]);
    const std::string a = argc == 4 ? argv[2] : "a red circle moving right";
    const std::string b = argc == 4 ? argv[3] : "a red circle moving left";
    const auto ctx_a = model.conditioning({a}).tensors.at("encoder_hidden_states");  // [1, L, D]
    const auto ctx_b = model.conditioning({b}).tensors.at("encoder_hidden_states");
    const auto& c = model.config;
    const double scale = c.diffusion.time_scale;
    torch::manual_seed(0);
    std::printf("model input: %lld frames of %lldx%lld; prompts \"%s\" / \"%s\"\n", static_cast<long long>(c.frames),
                static_cast<long long>(c.height), static_cast<long long>(c.width), a.c_str(), b.c_str());
    // How far apart the text encoder puts the two prompts, before the U-Net reads them.
    std::printf("text encoder: |enc(b) - enc(a)| / |enc(a)| = %.4f (per token, largest: %.4f)\n",
                (ctx_b - ctx_a).norm().item<double>() / ctx_a.norm().item<double>(),
                ((ctx_b - ctx_a).norm(2, {2}) / ctx_a.norm(2, {2})).max().item<double>());
    std::printf("%8s  %26s  %26s\n", "t", "|f(rev z) rev - f| / |f|", "|f(prompt b) - f| / |f|");
    for (const double t : {0.999, 0.9, 0.7, 0.5, 0.3}) {
      const auto z = torch::randn({1, c.unet.in_channels, c.frames, c.height, c.width});  // a latent at level t
      const auto time = torch::full({1}, t * scale);
      const auto f = model.unet->forward(z, time, ctx_a);
      const auto reversed = model.unet->forward(z.flip({2}), time, ctx_a).flip({2});
      const auto other = model.unet->forward(z, time, ctx_b);
      const double norm = f.norm().item<double>();
      std::printf("%8.3f  %26.4f  %26.4f\n", t, (reversed - f).norm().item<double>() / norm,
                  (other - f).norm().item<double>() / norm);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
