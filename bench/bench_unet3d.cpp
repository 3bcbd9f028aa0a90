// Whole-network benchmark of vdm's 3D U-Net (issue 4, acceptance 3): forward (no grad) and
// training-step times, bf16 against f32, peak memory, and the forward's arithmetic rate as a
// fraction of this machine's float32 matrix-product rate. Its PyTorch-eager peer is
// bench/peer_unet3d.py (diffusers' UNet3DConditionModel on the same weights and inputs);
// bench/run_unet3d.sh runs both, alternating, and writes docs/bench.md's table.
//
//   bench_unet3d --model DIR/model --inputs DIR/inputs.safetensors --mode forward|train
//                [--dtype f32|bf16] [--optimizer none|adamw] [--threads 2] [--warmup 1]
//                [--iters 3] [--save-output F] [--reference F ...] [--profile F]
//
// Prints one JSON line. Plain main() with wall-clock timing: one forward of the full model
// takes seconds, which Google Benchmark's repetition machinery does not help with.
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "vdm/core/runtime.h"
#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"
#include "vdm/models/unet3d.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

long status_kb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream in(line.substr(field.size() + 1));
      long kb = -1;
      in >> kb;
      return kb;
    }
  }
  return -1;
}

// Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

double matmul_gflops(torch::Dtype dtype, int64_t n = 2048, int reps = 5) {
  auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  torch::matmul(a, b);
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    auto c = torch::matmul(a, b);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n) * n * n / best / 1e9;
}

// ---- FLOP count of one forward --------------------------------------------------------------
// Multiply-adds of convolutions, linear layers and attention matrix products, counted as 2 FLOPs
// each, from the configuration and the input shape (the same walk the forward takes). Norms,
// activations, softmax, residual adds, interpolation and the timestep MLP's elementwise work are
// left out (they are memory-bound and a few percent of the total). Per layer:
//   conv kxk (or kx1x1):  2 Cin Cout k^2 (k) * output positions
//   linear:               2 in out * tokens
//   attention:            2 * 2 Lq Lk Dh per head and sequence (scores, then weights x values)
struct FlopCount {
  double conv = 0, linear = 0, attention = 0;
  double total() const { return conv + linear + attention; }
};

struct FlopCounter {
  const vdm::models::UNet3DConfig& c;
  int64_t b, f, l;  // batch, frames, text tokens
  FlopCount n;

  void conv(int64_t cin, int64_t cout, int64_t taps, double positions) {
    n.conv += 2.0 * cin * cout * taps * positions;
  }
  void linear(int64_t in, int64_t out, double tokens) { n.linear += 2.0 * in * out * tokens; }
  // One TransformerBlock of width d over `seqs` sequences of length lq; cross-attention to lk
  // tokens of width dc when dc > 0, else a second self-attention (temporal blocks).
  void block(int64_t d, double seqs, int64_t lq, int64_t dc, int64_t lk) {
    const double tokens = seqs * lq;
    linear(d, d, tokens * 4);  // attn1 q k v out
    n.attention += 4.0 * lq * lq * d * seqs;
    if (dc > 0) {
      linear(d, d, tokens * 2);               // attn2 q, out
      linear(dc, d, seqs * lk * 2);           // attn2 k, v on the (per-frame) context
      n.attention += 4.0 * lq * lk * d * seqs;
    } else {
      linear(d, d, tokens * 4);
      n.attention += 4.0 * lq * lq * d * seqs;
    }
    linear(d, 8 * d, tokens);  // GEGLU proj (to 2 x 4d)
    linear(4 * d, d, tokens);  // ff out
  }
  void spatial_transformer(int64_t ch, int64_t hw) {
    const double tokens = static_cast<double>(b * f) * hw;
    linear(ch, ch, tokens);  // proj_in
    block(ch, static_cast<double>(b * f), hw, c.cross_attention_dim, l);
    linear(ch, ch, tokens);  // proj_out
  }
  void temporal_transformer(int64_t ch, int64_t inner, int64_t hw) {
    const double tokens = static_cast<double>(b * f) * hw;
    linear(ch, inner, tokens);
    block(inner, static_cast<double>(b) * hw, f, 0, 0);
    linear(inner, ch, tokens);
  }
  void resnet(int64_t cin, int64_t cout, int64_t hw) {
    const double pos = static_cast<double>(b * f) * hw;
    conv(cin, cout, 9, pos);
    conv(cout, cout, 9, pos);
    if (cin != cout) conv(cin, cout, 1, pos);
    linear(c.time_embed_dim(), cout, static_cast<double>(b * f));
    if (c.temporal_conv) conv(cout, cout, 3 * 4, pos);  // 4 temporal convs 3x1x1
  }

  FlopCount count(int64_t height, int64_t width) {
    const auto& ch = c.block_out_channels;
    const int64_t levels = c.levels();
    std::vector<std::pair<int64_t, int64_t>> size(levels);
    size[0] = {height, width};
    for (int64_t i = 1; i < levels; ++i) {
      const int64_t p = c.downsample_padding;
      auto down = [&](int64_t s) { return p == 0 ? (s + 1 - 3) / 2 + 1 : (s + 2 * p - 3) / 2 + 1; };
      size[i] = {down(size[i - 1].first), down(size[i - 1].second)};
    }
    auto hw = [&](int64_t i) { return size[i].first * size[i].second; };
    const double frames = static_cast<double>(b * f);
    linear(ch[0], c.time_embed_dim(), b);
    linear(c.time_embed_dim(), c.time_embed_dim(), b);
    conv(c.in_channels, ch[0], 9, frames * hw(0));
    if (c.transformer_in) temporal_transformer(ch[0], c.transformer_in_heads * c.head_dim(0), hw(0));
    int64_t out = ch[0];
    for (int64_t i = 0; i < levels; ++i) {
      const int64_t in = out;
      out = ch[i];
      for (int64_t k = 0; k < c.layers_per_block; ++k) {
        resnet(k == 0 ? in : out, out, hw(i));
        if (c.attention_levels[i]) {
          spatial_transformer(out, hw(i));
          temporal_transformer(out, out, hw(i));
        }
      }
      if (i + 1 < levels) conv(out, out, 9, frames * hw(i + 1));  // stride-2 downsampler
    }
    const int64_t last = levels - 1, cm = ch.back();
    resnet(cm, cm, hw(last));
    spatial_transformer(cm, hw(last));
    temporal_transformer(cm, cm, hw(last));
    resnet(cm, cm, hw(last));
    int64_t prev = cm;
    for (int64_t i = 0; i < levels; ++i) {
      const int64_t level = levels - 1 - i, oc = ch[level], ic = ch[std::max<int64_t>(level - 1, 0)];
      const int64_t layers = c.layers_per_block + 1;
      for (int64_t k = 0; k < layers; ++k) {
        const int64_t skip = k == layers - 1 ? ic : oc;
        resnet((k == 0 ? prev : oc) + skip, oc, hw(level));
        if (c.attention_levels[level]) {
          spatial_transformer(oc, hw(level));
          temporal_transformer(oc, oc, hw(level));
        }
      }
      if (i + 1 < levels) conv(oc, oc, 9, frames * hw(level - 1));  // upsampler conv at the next size
      prev = oc;
    }
    conv(ch[0], c.out_channels, 9, frames * hw(0));
    return n;
  }
};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  vdm::configure_allocator();  // as the vdm CLI does
  std::string model_path, inputs_path, mode = "forward", dtype_name = "f32", optimizer = "none";
  std::string save_output, profile;
  std::vector<std::string> references;
  int threads = 2, warmup = 1, iters = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_path = next();
    else if (a == "--inputs") inputs_path = next();
    else if (a == "--mode") mode = next();
    else if (a == "--dtype") dtype_name = next();
    else if (a == "--optimizer") optimizer = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--iters") iters = std::stoi(next());
    else if (a == "--save-output") save_output = next();
    else if (a == "--reference") references.push_back(next());
    else if (a == "--profile") profile = next();
    else {
      std::cerr << "usage: bench_unet3d --model DIR --inputs FILE [--mode forward|train] [--dtype f32|bf16]\n"
                   "  [--optimizer none|adamw] [--threads N] [--warmup N] [--iters N] [--save-output F]\n"
                   "  [--reference F (an output file to compare with; repeatable)] [--profile TRACE.json]\n";
      return 2;
    }
  }
  if (model_path.empty() || inputs_path.empty() || (mode != "forward" && mode != "train")) {
    std::cerr << "bench_unet3d: --model and --inputs are required; --mode is forward or train\n";
    return 2;
  }
  try {
    vdm::set_threads(threads);
    torch::manual_seed(0);
    const auto dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    const bool train = mode == "train";

    auto inputs = vdm::io::load_safetensors(inputs_path);
    auto sample = inputs.at("sample").clone().to(dtype);
    auto timestep = inputs.at("timestep").clone();
    auto context = inputs.at("encoder_hidden_states").clone().to(dtype);
    auto target = inputs.at("target").clone().to(dtype);
    const double mm32 = matmul_gflops(torch::kFloat32);
    const double mm16 = dtype == torch::kBFloat16 ? matmul_gflops(torch::kBFloat16) : 0.0;

    auto t0 = Clock::now();
    auto unet = vdm::models::load_unet3d(model_path);
    if (dtype != torch::kFloat32) unet->to(dtype);
    const double load_s = seconds_since(t0);
    const long peak_load_kb = status_kb("VmHWM");
    reset_peak_rss();

    unet->train(train);
    std::unique_ptr<torch::optim::AdamW> opt;
    if (train && optimizer == "adamw") {
      opt = std::make_unique<torch::optim::AdamW>(unet->parameters(), torch::optim::AdamWOptions(1e-4));
    }
    torch::Tensor output;
    auto step = [&] {
      if (!train) {
        torch::NoGradGuard no_grad;
        output = unet->forward(sample, timestep, context);
        return;
      }
      auto out = unet->forward(sample, timestep, context);
      auto loss = torch::mse_loss(out, target);
      loss.backward();
      if (opt) opt->step();
      for (auto& p : unet->parameters()) p.mutable_grad() = torch::Tensor();  // zero_grad(set_to_none)
    };
    for (int i = 0; i < warmup; ++i) step();
    std::vector<double> times;
    for (int i = 0; i < iters; ++i) {
      std::unique_ptr<torch::autograd::profiler::RecordProfile> prof;
      if (!profile.empty() && i == iters - 1) {
        prof = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
      }
      auto ts = Clock::now();
      step();
      times.push_back(seconds_since(ts));
    }
    const long peak_run_kb = status_kb("VmHWM");

    const auto& cfg = unet->config();
    FlopCounter counter{cfg, sample.size(0), sample.size(2), context.size(1), {}};
    const FlopCount flops = counter.count(sample.size(3), sample.size(4));
    auto sorted = times;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted.empty() ? 0.0
                          : sorted.size() % 2 ? sorted[sorted.size() / 2]
                                              : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);

    vdm::io::Json j;
    j["impl"] = "vdm";
    j["torch"] = TORCH_VERSION;
    j["blas"] = vdm::blas_implementation();
    j["mode"] = mode;
    j["optimizer"] = train ? vdm::io::Json(optimizer) : vdm::io::Json(nullptr);
    j["dtype"] = dtype_name;
    j["threads"] = torch::get_num_threads();
    j["params"] = unet->parameter_count();
    j["shape"] = sample.sizes().vec();
    j["text"] = std::vector<int64_t>{context.size(1), context.size(2)};
    j["load_s"] = std::stod(fixed(load_s, 3));
    j["warmup"] = warmup;
    std::vector<double> rounded;
    for (double t : times) rounded.push_back(std::stod(fixed(t, 4)));
    j["times_s"] = rounded;
    j["median_s"] = std::stod(fixed(median, 4));
    j["min_s"] = sorted.empty() ? 0.0 : std::stod(fixed(sorted.front(), 4));
    j["peak_rss_load_mb"] = std::stod(fixed(peak_load_kb / 1024.0, 1));
    j["peak_rss_run_mb"] = std::stod(fixed(peak_run_kb / 1024.0, 1));
    j["forward_gflop"] = std::stod(fixed(flops.total() / 1e9, 2));
    j["forward_gflop_split"] = {{"conv", std::stod(fixed(flops.conv / 1e9, 2))},
                                {"linear", std::stod(fixed(flops.linear / 1e9, 2))},
                                {"attention", std::stod(fixed(flops.attention / 1e9, 2))}};
    j["matmul_f32_gflops"] = std::stod(fixed(mm32, 1));
    if (mm16 > 0) j["matmul_bf16_gflops"] = std::stod(fixed(mm16, 1));
    if (!train && median > 0) {
      const double rate = flops.total() / median / 1e9;
      j["forward_gflops"] = std::stod(fixed(rate, 1));
      j["fraction_of_matmul_f32"] = std::stod(fixed(rate / mm32, 3));
    }
    if (output.defined()) {
      auto out32 = output.to(torch::kFloat32).contiguous();
      j["output_abs_mean"] = out32.abs().mean().item<double>();
      j["output_finite"] = torch::isfinite(out32).all().item<bool>();
      if (!save_output.empty()) vdm::io::save_safetensors(save_output, {{"output", out32}});
      for (const auto& ref_path : references) {
        auto ref = vdm::io::load_safetensors(ref_path).at("output").to(torch::kFloat32);
        auto diff = (out32 - ref).abs();
        j["vs"][ref_path] = {{"max_abs_diff", diff.max().item<double>()},
                             {"mean_abs_diff", diff.mean().item<double>()},
                             {"ref_abs_mean", ref.abs().mean().item<double>()}};
      }
    }
    std::cout << j.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "bench_unet3d: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
