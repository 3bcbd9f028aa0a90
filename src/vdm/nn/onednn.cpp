#include "vdm/nn/onednn.h"

#include "vdm/nn/onednn_plain.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace vdm::nn {

namespace {
// -1: not decided yet (VDM_ONEDNN is read on first use); 0 off; 1 on.
std::atomic<int> g_enabled{-1};
}  // namespace

bool onednn_enabled() {
  int state = g_enabled.load();
  if (state < 0) {
    const char* env = std::getenv("VDM_ONEDNN");
    int expected = -1;
    g_enabled.compare_exchange_strong(expected, (env != nullptr && std::strcmp(env, "0") == 0) ? 0 : 1);
    state = g_enabled.load();
  }
  return state == 1;
}

void set_onednn_enabled(bool enabled) { g_enabled.store(enabled ? 1 : 0); }

bool onednn_may_run(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const auto f32_cpu = [](const torch::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat32; };
  if (!onednn_enabled() || !f32_cpu(x) || !f32_cpu(weight) || !weight.is_contiguous() ||
      (bias.defined() && (!f32_cpu(bias) || !bias.is_contiguous()))) {
    return false;
  }
  return !torch::GradMode::is_enabled() ||
         !(x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
}

bool onednn_built() { return VDM_WITH_DNNL != 0; }

#if VDM_WITH_DNNL
namespace onednn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void execute(const dnnl::primitive& primitive, const dnnl::memory::desc& src_desc, const torch::Tensor& src,
             const dnnl::memory::desc& weights_desc, const torch::Tensor& weights,
             const dnnl::memory::desc& dst_desc, torch::Tensor& dst, const dnnl::memory::desc& bias_desc,
             const torch::Tensor& bias) {
  auto& engine = cpu_engine();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(src_desc, engine, src.data_ptr())},
                                             {DNNL_ARG_WEIGHTS, dnnl::memory(weights_desc, engine, weights.data_ptr())},
                                             {DNNL_ARG_DST, dnnl::memory(dst_desc, engine, dst.data_ptr())}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_desc, engine, bias.data_ptr()));
  dnnl::stream stream(engine);
  primitive.execute(stream, args);
  stream.wait();
}

}  // namespace onednn
#endif

}  // namespace vdm::nn
