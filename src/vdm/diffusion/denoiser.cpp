#include "vdm/diffusion/denoiser.h"

#include "vdm/core/error.h"

namespace vdm::diffusion {

const torch::Tensor& Conditioning::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::string have;
    for (const auto& [key, value] : tensors) have += (have.empty() ? "" : ", ") + key;
    throw Error(fmt::format("conditioning has no '{}' (has: {})", name,
                            have.empty() ? "nothing" : have));
  }
  return it->second;
}

int64_t Conditioning::batch_size() const {
  int64_t batch = 0;
  for (const auto& [name, tensor] : tensors) {
    VDM_CHECK(tensor.dim() >= 1, "conditioning '{}' must be batch-first, got a scalar", name);
    VDM_CHECK(batch == 0 || tensor.size(0) == batch,
              "conditioning '{}' has batch {} but others have {}", name, tensor.size(0), batch);
    batch = tensor.size(0);
  }
  return batch;
}

Conditioning Conditioning::expand_batch(int64_t batch) const {
  Conditioning out;
  for (const auto& [name, tensor] : tensors) {
    VDM_CHECK(tensor.dim() >= 1 && (tensor.size(0) == batch || tensor.size(0) == 1),
              "conditioning '{}' has batch {}; expected 1 or {}", name,
              tensor.dim() ? tensor.size(0) : 0, batch);
    if (tensor.size(0) == batch) {
      out.tensors[name] = tensor;
    } else {
      std::vector<int64_t> reps(static_cast<size_t>(tensor.dim()), 1);
      reps[0] = batch;
      out.tensors[name] = tensor.repeat(reps);
    }
  }
  return out;
}

Conditioning Conditioning::cat(const Conditioning& a, const Conditioning& b) {
  VDM_CHECK(a.tensors.size() == b.tensors.size(),
            "cannot batch conditionings with different inputs ({} vs {} tensors)",
            a.tensors.size(), b.tensors.size());
  Conditioning out;
  for (const auto& [name, tensor] : a.tensors) {
    out.tensors[name] = torch::cat({tensor, b.at(name)}, 0);
  }
  return out;
}

}  // namespace vdm::diffusion
