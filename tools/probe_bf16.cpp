// Where does a 3D U-Net lose precision in bfloat16? Runs the model's forward unit by unit
// (conv_in, each resnet, temporal conv, spatial and temporal attention, sampler, conv_out)
// twice: in float32, and in bfloat16 on the float32 input rounded to bfloat16. Prints each
// unit's own relative error (same input, one unit in bf16) next to the error carried along
// a whole bf16 forward, so one bad unit stands out from error that merely accumulates.
// docs/bench.md has the numbers for diffusers' small benchmark model.
// Usage: vdm_probe_bf16 MODEL (a diffusers UNet3DConditionModel folder or a vdm U-Net file)
//                       [INPUTS.safetensors with sample, timestep, encoder_hidden_states]
#include <cstdio>
#include <iostream>
#include <string>

#include "vdm/core/error.h"
#include "vdm/io/safetensors.h"
#include "vdm/models/unet3d.h"
#include "vdm/nn/embeddings.h"
#include "vdm/nn/resnet.h"
#include "vdm/nn/transformer.h"

namespace {

using vdm::models::UNet3D;
using vdm::models::UNetLevelImpl;

double rel(const torch::Tensor& a, const torch::Tensor& ref) {
  auto r = ref.to(torch::kFloat32);
  return ((a.to(torch::kFloat32) - r).abs().mean() / r.abs().mean().clamp_min(1e-12)).item<double>();
}

// Runs `unit` on the f32 model and the bf16 model: local error (bf16 unit on the rounded f32
// input) and carried error (bf16 unit on the bf16 chain's input). Advances both chains.
template <typename F32Fn, typename BF16Fn>
void step(const char* name, torch::Tensor& x32, torch::Tensor& x16, F32Fn f32, BF16Fn bf16) {
  torch::Tensor y32 = f32(x32);
  torch::Tensor local = bf16(x32.to(torch::kBFloat16));
  torch::Tensor y16 = bf16(x16);
  std::printf("%-40s local %.4f  carried %.4f  |y| %.3g%s\n", name, rel(local, y32), rel(y16, y32),
              y32.abs().mean().item<double>(), y16.is_contiguous() ? "" : "  (bf16 output not contiguous)");
  x32 = y32;
  x16 = y16;
}


// The steps inside the first temporal transformer, each on the f32 chain's input rounded to
// bf16. Its GroupNorm is called directly on the input's layout, to show LibTorch 1.13's
// channels-last bf16 GroupNorm fault (vdm's layers avoid it through compat::group_norm_input).
void temporal_breakdown(vdm::nn::TemporalTransformerImpl& t32, vdm::nn::TemporalTransformerImpl& t16,
                        const torch::Tensor& x, int64_t frames) {
  const int64_t bf = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), b = bf / frames;
  auto to16 = [](const torch::Tensor& a) { return a.to(torch::kBFloat16); };
  auto show = [](const char* name, const torch::Tensor& a16, const torch::Tensor& a32) {
    std::printf("    %-36s local %.4f  |y| %.3g\n", name, rel(a16, a32), a32.abs().mean().item<double>());
  };
  auto tokens = [&](vdm::nn::TemporalTransformerImpl& t, const torch::Tensor& in) {
    auto hid = t.norm(in.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4}));
    return hid.permute({0, 3, 4, 2, 1}).reshape({b * h * w, frames, c});
  };
  auto n32 = tokens(t32, x);
  show("norm, the layout as given (no compat::group_norm_input)", tokens(t16, to16(x)), n32);
  show("norm in f32 of the bf16-rounded input", tokens(t32, to16(x).to(torch::kFloat32)), n32);
  {
    auto v = x.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4}).reshape({b, c, -1});
    auto ratio = (v.mean(-1).abs() / v.std(-1).clamp_min(1e-12)).flatten();
    std::printf("    per-channel |mean| / std: median %.3g, max %.3g\n", ratio.median().item<double>(),
                ratio.max().item<double>());
    auto g16 = t16.norm(to16(x).view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4}).contiguous());
    auto g32 = t32.norm(x.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4}).contiguous());
    std::printf("    norm on a contiguous copy: local %.4f\n", rel(g16, g32));
    std::cout << "    input strides " << x.strides() << " channels-last " << x.is_contiguous(torch::MemoryFormat::ChannelsLast)
              << " video view strides " << x.view({b, frames, c, h, w}).permute({0, 2, 1, 3, 4}).strides() << "\n";
  }
  auto p32 = at::linear(n32, t32.proj_in->weight, t32.proj_in->bias);
  show("proj_in", at::linear(to16(n32), t16.proj_in->weight, t16.proj_in->bias), p32);
  auto& blk32 = *t32.transformer_blocks[0]->as<vdm::nn::TransformerBlock>();
  auto& blk16 = *t16.transformer_blocks[0]->as<vdm::nn::TransformerBlock>();
  auto a32 = blk32.attn1->forward(blk32.norm1(p32), {}, {});
  show("block 0 norm1 + attn1", blk16.attn1->forward(blk16.norm1(to16(p32)), {}, {}), a32);
  auto nn32 = blk32.norm1(p32);
  show("block 0 norm1", blk16.norm1(to16(p32)), nn32);
  auto q32 = at::linear(nn32, blk32.attn1->to_q->weight, blk32.attn1->to_q->bias);
  show("block 0 to_q", at::linear(to16(nn32), blk16.attn1->to_q->weight, blk16.attn1->to_q->bias), q32);
  auto x1 = p32 + a32;
  auto f32 = blk32.ff(blk32.norm3(x1));
  show("block 0 norm3 + ff", blk16.ff(blk16.norm3(to16(x1))), f32);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL [INPUTS.safetensors]\n", argv[0]);
    return 2;
  }
  try {
    torch::NoGradGuard no_grad;
    UNet3D m32 = vdm::models::load_unet3d(argv[1]);
    UNet3D m16 = vdm::models::load_unet3d(argv[1]);
    m16->to(torch::kBFloat16);
    const auto& c = m32->config();
    torch::Tensor sample, timestep, context;
    if (argc == 3) {
      auto in = vdm::io::load_safetensors(argv[2]);
      sample = in.at("sample");
      timestep = in.at("timestep");
      context = in.at("encoder_hidden_states");
    } else {
      torch::manual_seed(0);
      sample = torch::randn({1, c.in_channels, 8, 32, 32});
      timestep = torch::full({1}, 500.0);
      if (c.cross_attention_dim > 0) context = torch::randn({1, 77, c.cross_attention_dim});
    }
    const int64_t b = sample.size(0), f = sample.size(2), h = sample.size(3), w = sample.size(4);
    auto t_emb = vdm::nn::sinusoidal_embedding(timestep.reshape({-1}).expand({b}), c.block_out_channels[0], true, 0.0);
    auto temb32 = m32->time_embedding(t_emb).repeat_interleave(f, 0);
    auto temb16 = m16->time_embedding(t_emb.to(torch::kBFloat16)).repeat_interleave(f, 0);
    std::printf("%-40s local %.4f\n", "time embedding", rel(temb16, temb32));
    torch::Tensor ctx32, ctx16;
    if (context.defined()) {
      ctx32 = context.repeat_interleave(f, 0);
      ctx16 = ctx32.to(torch::kBFloat16);
    }
    auto x32 = sample.permute({0, 2, 1, 3, 4}).reshape({b * f, c.in_channels, h, w});
    auto x16 = x32.to(torch::kBFloat16);
    step("conv_in", x32, x16, [&](auto x) { return m32->conv_in(x); }, [&](auto x) { return m16->conv_in(x); });
    if (m32->transformer_in) {
      step("transformer_in", x32, x16, [&](auto x) { return m32->transformer_in->forward(x, f, torch::Tensor()); },
           [&](auto x) { return m16->transformer_in->forward(x, f, torch::Tensor()); });
    }
    std::vector<torch::Tensor> skips32 = {x32}, skips16 = {x16};
    auto run_level = [&](const std::string& where, UNetLevelImpl& l32, UNetLevelImpl& l16, bool keep_skips,
                         const std::vector<int64_t>& up_size) {
      auto resnet = [&](int64_t i) {
        step((where + " resnet " + std::to_string(i)).c_str(), x32, x16,
             [&](auto x) { return l32.resnets[i]->as<vdm::nn::ResnetBlock>()->forward(x, temb32); },
             [&](auto x) { return l16.resnets[i]->as<vdm::nn::ResnetBlock>()->forward(x, temb16); });
        if (l32.options.temporal_conv) {
          step((where + " temp_conv " + std::to_string(i)).c_str(), x32, x16,
               [&](auto x) { return l32.temp_convs[i]->as<vdm::nn::TemporalConv>()->forward(x, f, torch::Tensor()); },
               [&](auto x) { return l16.temp_convs[i]->as<vdm::nn::TemporalConv>()->forward(x, f, torch::Tensor()); });
        }
      };
      auto attend = [&](int64_t i) {
        if (where == "down 0" && i == 0) {
          auto y = l32.attentions[i]->as<vdm::nn::SpatialTransformer>()->forward(x32, ctx32);
          temporal_breakdown(*l32.temp_attentions[i]->as<vdm::nn::TemporalTransformer>(),
                             *l16.temp_attentions[i]->as<vdm::nn::TemporalTransformer>(), y, f);
        }
        step((where + " attention " + std::to_string(i)).c_str(), x32, x16,
             [&](auto x) { return l32.attentions[i]->as<vdm::nn::SpatialTransformer>()->forward(x, ctx32); },
             [&](auto x) { return l16.attentions[i]->as<vdm::nn::SpatialTransformer>()->forward(x, ctx16); });
        step((where + " temp_attention " + std::to_string(i)).c_str(), x32, x16,
             [&](auto x) { return l32.temp_attentions[i]->as<vdm::nn::TemporalTransformer>()->forward(x, f, torch::Tensor()); },
             [&](auto x) { return l16.temp_attentions[i]->as<vdm::nn::TemporalTransformer>()->forward(x, f, torch::Tensor()); });
      };
      const auto& o = l32.options;
      if (o.mid) {
        resnet(0);
        for (int64_t i = 1; i < o.layers; ++i) {
          attend(i - 1);
          resnet(i);
        }
        return;
      }
      for (int64_t i = 0; i < o.layers; ++i) {
        if (o.up_path) {
          x32 = torch::cat({x32, skips32.back()}, 1);
          x16 = torch::cat({x16, skips16.back()}, 1);
          skips32.pop_back();
          skips16.pop_back();
        }
        resnet(i);
        if (o.attention) attend(i);
        if (keep_skips) {
          skips32.push_back(x32);
          skips16.push_back(x16);
        }
      }
      if (o.downsample) {
        step((where + " downsample").c_str(), x32, x16,
             [&](auto x) { return l32.downsamplers[0]->as<vdm::nn::Downsample>()->forward(x); },
             [&](auto x) { return l16.downsamplers[0]->as<vdm::nn::Downsample>()->forward(x); });
        skips32.push_back(x32);
        skips16.push_back(x16);
      }
      if (o.upsample) {
        step((where + " upsample").c_str(), x32, x16,
             [&](auto x) { return l32.upsamplers[0]->as<vdm::nn::Upsample>()->forward(x, up_size); },
             [&](auto x) { return l16.upsamplers[0]->as<vdm::nn::Upsample>()->forward(x, up_size); });
      }
    };
    for (size_t i = 0; i < m32->down_blocks->size(); ++i) {
      run_level("down " + std::to_string(i), *m32->down_blocks[i]->as<UNetLevelImpl>(),
                *m16->down_blocks[i]->as<UNetLevelImpl>(), true, {});
    }
    run_level("mid", *m32->mid_block, *m16->mid_block, false, {});
    for (size_t i = 0; i < m32->up_blocks->size(); ++i) {
      auto& l32 = *m32->up_blocks[i]->as<UNetLevelImpl>();
      std::vector<int64_t> size;
      if (l32.options.upsample) {
        const auto& next = skips32[skips32.size() - 1 - l32.options.layers];
        size = {next.size(2), next.size(3)};
      }
      run_level("up " + std::to_string(i), l32, *m16->up_blocks[i]->as<UNetLevelImpl>(), false, size);
    }
    step("conv_norm_out + conv_out", x32, x16,
         [&](auto x) { return m32->conv_out(torch::silu(m32->conv_norm_out(x))); },
         [&](auto x) { return m16->conv_out(torch::silu(m16->conv_norm_out(x))); });
    auto full32 = m32->forward(sample, timestep, context);
    auto full16 = m16->forward(sample.to(torch::kBFloat16), timestep, context.defined() ? context.to(torch::kBFloat16) : context);
    std::printf("%-40s %.4f (the unit-by-unit f32 chain vs forward: %.2g)\n", "whole forward, bf16 vs f32",
                rel(full16, full32), rel(x32.view({b, f, -1, h, w}).permute({0, 2, 1, 3, 4}), full32));
    return 0;
  } catch (const vdm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
