#include "vdm/models/weights.h"

#include <map>

#include "vdm/core/error.h"

namespace vdm::models {

namespace {
std::map<std::string, torch::Tensor> named_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) state[p.key()] = p.value();
  for (const auto& b : module.named_buffers(/*recurse=*/true)) state[b.key()] = b.value();
  return state;
}

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

void check_model_fits_file(double parameter_bound, uint64_t weight_bytes, const std::string& source) {
  const double model_bytes = 4.0 * parameter_bound, budget = 64.0 * static_cast<double>(weight_bytes) + 256.0 * (1 << 20);
  VDM_CHECK(model_bytes <= budget,
            "{}: its config describes a model of up to {:.3g} parameters, but the file holds only {} bytes of "
            "weights; refusing to build it (a damaged or hostile config)",
            source, parameter_bound, weight_bytes);
}

LoadReport load_weights(torch::nn::Module& module, const io::TensorFile& file, const std::string& source) {
  auto state = named_state(module);
  std::vector<std::string> problems;
  std::map<std::string, bool> seen;
  for (const auto& [name, tensor] : file.tensors) {
    auto it = state.find(name);
    if (it == state.end()) {
      problems.push_back(fmt::format("unexpected key '{}' {}", name, shape_str(tensor)));
      continue;
    }
    seen[name] = true;
    if (it->second.sizes() != tensor.sizes()) {
      problems.push_back(fmt::format("shape mismatch for '{}': checkpoint {} vs model {}", name,
                                     shape_str(tensor), shape_str(it->second)));
    } else if (it->second.is_floating_point() && !tensor.is_floating_point()) {
      problems.push_back(fmt::format("dtype mismatch for '{}': checkpoint {} for a floating-point parameter",
                                     name, c10::toString(tensor.scalar_type())));
    }
  }
  for (const auto& [name, t] : state) {
    if (!seen.count(name)) problems.push_back(fmt::format("missing key '{}' {}", name, shape_str(t)));
  }
  if (!problems.empty()) {
    std::string list;
    const size_t shown = std::min<size_t>(problems.size(), 40);
    for (size_t i = 0; i < shown; ++i) list += "\n  " + problems[i];
    if (problems.size() > shown) list += fmt::format("\n  ... and {} more", problems.size() - shown);
    throw Error(fmt::format("{}: the checkpoint does not fit the model ({} problems):{}", source,
                            problems.size(), list));
  }
  LoadReport report;
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : file.tensors) {
    auto& target = state.at(name);
    target.copy_(tensor);
    ++report.tensors;
    if (tensor.is_floating_point()) report.non_finite += (~torch::isfinite(tensor)).sum().item<int64_t>();
  }
  return report;
}

io::TensorList state_dict(const torch::nn::Module& module) {
  io::TensorList out;
  for (auto& [name, t] : named_state(module)) out.emplace_back(name, t.detach());
  return out;
}

}  // namespace vdm::models
