#include "vdm/nn/conv2d.h"

#include <ATen/record_function.h>

#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "vdm/nn/onednn.h"

#if VDM_WITH_DNNL
#include "vdm/nn/onednn_plain.h"
#endif

namespace vdm::nn {

#if VDM_WITH_DNNL

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::cpu_engine;

memory::dims dims_of(at::IntArrayRef sizes) { return memory::dims(sizes.begin(), sizes.end()); }

// The Winograd primitive for one problem; nullopt when oneDNN has none for it (no AVX-512).
std::optional<dnnl::convolution_forward::primitive_desc> winograd_descriptor(int64_t n, int64_t ic, int64_t oc,
                                                                             int64_t h, int64_t w, bool bias) {
  const auto f32 = memory::data_type::f32;
  const memory::desc src({n, ic, h, w}, f32, Tag::any);
  const memory::desc weights({oc, ic, 3, 3}, f32, Tag::any);
  const memory::desc dst({n, oc, h, w}, f32, Tag::any);
  const memory::desc bias_desc = bias ? memory::desc({oc}, f32, Tag::x) : memory::desc();
  try {
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                         src, weights, bias_desc, dst, {1, 1}, {1, 1}, {1, 1});
    return dnnl::convolution_forward::primitive_desc(desc, cpu_engine());
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

}  // namespace

struct WinogradState {
  std::array<int64_t, 3> shape{-1, -1, -1};  // N, H, W of `primitive`
  std::optional<dnnl::convolution_forward::primitive_desc> descriptor;
  dnnl::convolution_forward primitive;
  // The weights in the primitive's transformed layout, and what they were made from: the
  // parameter's storage and version counter (an in-place update, e.g. an optimizer step or
  // a checkpoint load, bumps the version).
  memory weights;
  const void* weights_source = nullptr;
  uint32_t weights_version = 0;
  bool unsupported = false;  // oneDNN had no Winograd primitive for this layer
};

namespace {

std::atomic<uint64_t> g_frames_conv_count{0};

// The direct convolution over frames on plain layouts (see frames_conv3x1); cached per shape.
// Returns an undefined tensor where oneDNN has no implementation.
torch::Tensor onednn_frames_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  RECORD_FUNCTION("vdm::onednn_frames_conv", std::vector<c10::IValue>({x}));  // named in profiles
  const int64_t b = x.size(0), c = x.size(1), f = x.size(2), p = x.size(3), oc = weight.size(0);
  const bool has_bias = bias.defined();
  const auto f32 = memory::data_type::f32;
  const memory::desc src({b, c, f, p}, f32, Tag::nchw), dst({b, oc, f, p}, f32, Tag::nchw);
  const memory::desc weights({oc, c, 3, 1}, f32, Tag::oihw);
  const memory::desc bias_desc = has_bias ? memory::desc({oc}, f32, Tag::x) : memory::desc();
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
  thread_local std::map<Key, dnnl::convolution_forward> primitives;  // per thread, as in linear.cpp
  const Key key{b, c, f, p, oc, has_bias};
  auto it = primitives.find(key);
  if (it == primitives.end()) {
    if (primitives.size() >= 256) primitives.clear();
    try {
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           src, weights, bias_desc, dst, {1, 1}, {1, 0}, {1, 0});
      it = primitives.emplace(key, dnnl::convolution_forward({desc, cpu_engine()})).first;
    } catch (const dnnl::error&) {
      return {};
    }
  }
  auto out = torch::empty({b, oc, f, p}, x.options());
  onednn::execute(it->second, src, x, weights, weight, dst, out, bias_desc, bias);
  return out;
}

}  // namespace

bool winograd_available() {
  static const bool available = winograd_descriptor(1, 16, 16, 16, 16, true).has_value();
  return available;
}

uint64_t frames_conv_onednn_count() { return g_frames_conv_count.load(); }

#else  // !VDM_WITH_DNNL

struct WinogradState {};
bool winograd_available() { return false; }

uint64_t frames_conv_onednn_count() { return 0; }

#endif

torch::Tensor frames_conv3x1(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
#if VDM_WITH_DNNL
  if (x.dim() == 4 && x.size(3) >= kFramesConvMinPixels && x.is_contiguous() && weight.dim() == 4 &&
      weight.size(2) == 3 && weight.size(3) == 1 && weight.size(1) == x.size(1) && onednn_may_run(x, weight, bias)) {
    auto out = onednn_frames_conv(x, weight, bias);
    if (out.defined()) {
      g_frames_conv_count.fetch_add(1, std::memory_order_relaxed);
      return out;
    }
  }
#endif
  return torch::nn::functional::conv2d(x, weight, torch::nn::functional::Conv2dFuncOptions().bias(bias).padding({1, 0}));
}

Conv2dImpl::Conv2dImpl(const torch::nn::Conv2dOptions& options) : torch::nn::Conv2dImpl(options) {}

Conv2dImpl::~Conv2dImpl() = default;

bool Conv2dImpl::winograd_applies(const torch::Tensor& x) const {
  const auto& o = options;
  // Every padding spelling (1, {1, 1}, kSame) ends up here as one pixel on each side.
  const bool one_pixel_padding = _reversed_padding_repeated_twice == std::vector<int64_t>{1, 1, 1, 1};
  const bool shape_fits = (*o.kernel_size())[0] == 3 && (*o.kernel_size())[1] == 3 && (*o.stride())[0] == 1 &&
                          (*o.stride())[1] == 1 && one_pixel_padding && (*o.dilation())[0] == 1 &&
                          (*o.dilation())[1] == 1 && o.groups() == 1 &&
                          torch::enumtype::get_enum_name(o.padding_mode()) == "kZeros";
  return shape_fits && x.dim() == 4 && x.size(2) * x.size(3) >= kWinogradMinPixels &&
         onednn_may_run(x, weight, bias) && winograd_available();
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  last_was_winograd_ = false;
#if VDM_WITH_DNNL
  if (winograd_applies(input)) {
    if (!winograd_) winograd_ = std::make_unique<WinogradState>();
    auto& state = *winograd_;
    const auto x = input.contiguous();
    const int64_t n = x.size(0), ic = x.size(1), h = x.size(2), w = x.size(3), oc = weight.size(0);
    const bool has_bias = bias.defined();
    const std::array<int64_t, 3> shape{n, h, w};
    if (!state.unsupported && state.shape != shape) {
      auto descriptor = winograd_descriptor(n, ic, oc, h, w, has_bias);
      if (!descriptor) {
        state.unsupported = true;
      } else {
        // A new problem size can change the transformed weights' blocking: keep one copy.
        if (!state.descriptor || descriptor->weights_desc() != state.descriptor->weights_desc()) {
          state.weights_source = nullptr;
        }
        state.primitive = dnnl::convolution_forward(*descriptor);
        state.descriptor = std::move(descriptor);
        state.shape = shape;
      }
    }
    if (!state.unsupported) {
      RECORD_FUNCTION("vdm::winograd_conv2d", std::vector<c10::IValue>({input}));  // named in profiles
      auto& engine = cpu_engine();
      dnnl::stream stream(engine);
      const auto& pd = *state.descriptor;
      const auto f32 = memory::data_type::f32;
      if (state.weights_source != weight.data_ptr() || state.weights_version != weight._version()) {
        const auto plain = weight.detach().contiguous();
        memory source({dims_of(plain.sizes()), f32, Tag::oihw}, engine, plain.data_ptr());
        state.weights = memory(pd.weights_desc(), engine);
        dnnl::reorder(source, state.weights).execute(stream, source, state.weights);
        state.weights_source = weight.data_ptr();
        state.weights_version = weight._version();
      }
      // Activations stay in LibTorch's NCHW tensors; oneDNN's blocked copies live in byte
      // tensors, so they come from (and go back to) the same allocator.
      const auto scratch = [&](const memory::desc& desc, torch::Tensor& holder) {
        holder = torch::empty({static_cast<int64_t>(desc.get_size())}, x.options().dtype(torch::kUInt8));
        return memory(desc, engine, holder.data_ptr());
      };
      memory user_src({{n, ic, h, w}, f32, Tag::nchw}, engine, x.data_ptr());
      auto out = torch::empty({n, oc, h, w}, x.options());
      memory user_dst({{n, oc, h, w}, f32, Tag::nchw}, engine, out.data_ptr());
      torch::Tensor src_holder, dst_holder;
      memory src = user_src, dst = user_dst;
      if (pd.src_desc() != user_src.get_desc()) {
        src = scratch(pd.src_desc(), src_holder);
        dnnl::reorder(user_src, src).execute(stream, user_src, src);
      }
      if (pd.dst_desc() != user_dst.get_desc()) dst = scratch(pd.dst_desc(), dst_holder);
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, state.weights}, {DNNL_ARG_DST, dst}};
      torch::Tensor plain_bias;
      if (has_bias) {
        plain_bias = bias.detach().contiguous();
        args.emplace(DNNL_ARG_BIAS, memory({{oc}, f32, Tag::x}, engine, plain_bias.data_ptr()));
      }
      state.primitive.execute(stream, args);
      if (dst != user_dst) dnnl::reorder(dst, user_dst).execute(stream, dst, user_dst);
      stream.wait();
      last_was_winograd_ = true;
      return out;
    }
  }
#endif
  return torch::nn::Conv2dImpl::forward(input);
}

}  // namespace vdm::nn
