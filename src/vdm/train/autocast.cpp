#include "vdm/train/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include <mutex>

#include "vdm/core/torch_compat.h"

namespace vdm::train {

namespace {

#if !VDM_TORCH_AT_LEAST(2, 0)
// group_norm in float32 under CPU autocast (see the header).
at::Tensor group_norm_float32(const at::Tensor& input, int64_t num_groups, const c10::optional<at::Tensor>& weight,
                              const c10::optional<at::Tensor>& bias, double eps, bool cudnn_enabled) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  auto to_float = [](const c10::optional<at::Tensor>& t) -> c10::optional<at::Tensor> {
    if (!t.has_value() || !t->defined()) return t;
    return t->to(at::kFloat);
  };
  return at::group_norm(input.to(at::kFloat), num_groups, to_float(weight), to_float(bias), eps, cudnn_enabled);
}

at::Tensor layer_norm_float32(const at::Tensor& input, at::IntArrayRef normalized_shape,
                              const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                              double eps, bool cudnn_enable) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  auto to_float = [](const c10::optional<at::Tensor>& t) -> c10::optional<at::Tensor> {
    if (!t.has_value() || !t->defined()) return t;
    return t->to(at::kFloat);
  };
  return at::layer_norm(input.to(at::kFloat), normalized_shape, to_float(weight), to_float(bias), eps, cudnn_enable);
}
#endif

void register_cpu_policies() {
#if !VDM_TORCH_AT_LEAST(2, 0)
  static std::once_flag once;
  std::call_once(once, [] {
    // Lives for the process, as a TORCH_LIBRARY_IMPL registration would.
    static torch::Library library(torch::Library::IMPL, "aten", c10::DispatchKey::AutocastCPU, __FILE__, __LINE__);
    library.impl("group_norm", TORCH_FN(group_norm_float32));
    library.impl("layer_norm", TORCH_FN(layer_norm_float32));
  });
#endif
}

}  // namespace

AutocastGuard::AutocastGuard(torch::DeviceType device, torch::Dtype dtype)
    : device_(device), on_(dtype != torch::kFloat32) {
  if (!on_) return;
  if (device_ == torch::kCPU) register_cpu_policies();
#if VDM_TORCH_AT_LEAST(2, 4)
  previous_enabled_ = at::autocast::is_autocast_enabled(device_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, dtype);
#else
  if (device_ == torch::kCUDA) {
    previous_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    previous_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!on_) return;
  // Leaving the outermost region drops the cache of low-precision weight copies.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if VDM_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
#else
  if (device_ == torch::kCUDA) {
    at::autocast::set_enabled(previous_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(previous_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
#endif
}

}  // namespace vdm::train
