#include "vdm/nn/linear.h"

#include <ATen/record_function.h>

#include <atomic>
#include <tuple>
#include <vector>

#include "vdm/nn/onednn.h"

#if VDM_WITH_DNNL
#include <map>

#include "vdm/nn/onednn_plain.h"
#endif

namespace vdm::nn {

namespace {
std::atomic<uint64_t> g_onednn_linear_count{0};
}  // namespace

uint64_t onednn_linear_count() { return g_onednn_linear_count.load(); }

#if VDM_WITH_DNNL

namespace {

using dnnl::memory;
using onednn::cpu_engine;

// Primitives by problem (M, K, N, the input's row stride, bias); a U-Net forward has a few
// dozen distinct ones, reused at every step. One cache per thread: primitives are not shared
// between threads that might execute them at once.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, bool>;
constexpr size_t kMaxCachedPrimitives = 512;

// x2d: [M, K] with unit column stride; weight: [N, K] contiguous (LibTorch's layout, read by
// oneDNN as the K x N matrix in "ba" order: no copy); bias: [N] or undefined. Returns an
// undefined tensor where oneDNN has no implementation.
torch::Tensor onednn_matmul(const torch::Tensor& x2d, const torch::Tensor& weight, const torch::Tensor& bias) {
  RECORD_FUNCTION("vdm::onednn_linear", std::vector<c10::IValue>({x2d}));  // named in profiles
  const int64_t m = x2d.size(0), k = x2d.size(1), n = weight.size(0), row_stride = x2d.stride(0);
  const bool has_bias = bias.defined();
  const auto f32 = memory::data_type::f32;
  const memory::desc src({m, k}, f32, {row_stride, 1});
  const memory::desc weights({k, n}, f32, memory::format_tag::ba);
  const memory::desc dst({m, n}, f32, memory::format_tag::ab);
  const memory::desc bias_desc({1, n}, f32, memory::format_tag::ab);

  thread_local std::map<Key, dnnl::matmul> primitives;
  const Key key{m, k, n, row_stride, has_bias};
  auto it = primitives.find(key);
  if (it == primitives.end()) {
    if (primitives.size() >= kMaxCachedPrimitives) primitives.clear();
    try {
      const auto desc = has_bias ? dnnl::matmul::desc(src, weights, bias_desc, dst) : dnnl::matmul::desc(src, weights, dst);
      it = primitives.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(desc, cpu_engine()))).first;
    } catch (const dnnl::error&) {
      return {};  // no oneDNN implementation for this problem: LibTorch's
    }
  }
  auto out = torch::empty({m, n}, x2d.options());
  onednn::execute(it->second, src, x2d, weights, weight, dst, out, bias_desc, bias);
  return out;
}

bool takes_onednn_path(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (x.dim() < 2 || x.size(-1) != weight.size(1) || !onednn_may_run(x, weight, bias)) return false;
  return 2.0 * static_cast<double>(x.numel()) * static_cast<double>(weight.size(0)) >= kOnednnMinFlops;
}

}  // namespace

#endif

torch::Tensor linear(const torch::nn::LinearImpl& layer, const torch::Tensor& x) {
#if VDM_WITH_DNNL
  if (takes_onednn_path(x, layer.weight, layer.bias)) {
    auto x2d = x.reshape({-1, x.size(-1)});  // a view when the leading dims fold
    if (x2d.stride(1) != 1 || x2d.stride(0) < x2d.size(1)) x2d = x2d.contiguous();
    auto sizes = x.sizes().vec();
    sizes.back() = layer.weight.size(0);
    auto out = onednn_matmul(x2d, layer.weight, layer.bias);
    if (out.defined()) {
      g_onednn_linear_count.fetch_add(1, std::memory_order_relaxed);
      return out.view(sizes);
    }
  }
#endif
  return at::linear(x, layer.weight, layer.bias);
}

}  // namespace vdm::nn
