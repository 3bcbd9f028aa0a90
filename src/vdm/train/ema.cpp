#include "vdm/train/ema.h"

#include <algorithm>
#include <set>

#include "vdm/core/error.h"

namespace vdm::train {

Ema::Ema(const io::TensorList& state, const std::vector<std::string>& trained, double decay) : decay_(decay) {
  VDM_CHECK(decay >= 0 && decay < 1, "ema: decay must be in [0, 1), got {}", decay);
  const std::set<std::string> names(trained.begin(), trained.end());
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : state) {
    averages_.emplace_back(name, t.detach().to(torch::kFloat32).clone());
    trained_.push_back(names.count(name) != 0);
  }
}

double Ema::decay_at(int64_t n) const {
  return std::min(decay_, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
}

void Ema::update(const io::TensorList& state) {
  VDM_CHECK(state.size() == averages_.size(), "ema: {} tensors given, {} tracked", state.size(), averages_.size());
  torch::NoGradGuard no_grad;
  const double d = decay_at(updates_);
  for (size_t i = 0; i < state.size(); ++i) {
    auto& avg = averages_[i].second;
    const auto current = state[i].second.detach().to(avg.dtype());
    if (trained_[i]) {
      avg.mul_(d).add_(current, 1.0 - d);  // ema <- d ema + (1 - d) theta
    } else {
      avg.copy_(current);
    }
  }
  ++updates_;
}

void Ema::load(const io::TensorFile& file, int64_t updates, const std::string& source) {
  VDM_CHECK(updates >= 0, "{}: ema update count must be >= 0, got {}", source, updates);
  VDM_CHECK(file.tensors.size() == averages_.size(), "{}: the EMA holds {} tensors, the model has {}", source,
            file.tensors.size(), averages_.size());
  torch::NoGradGuard no_grad;
  for (auto& [name, avg] : averages_) {
    VDM_CHECK(file.contains(name), "{}: the EMA has no tensor '{}'", source, name);
    const auto& t = file.at(name);
    VDM_CHECK(t.sizes() == avg.sizes(), "{}: EMA tensor '{}' has shape [{}], the model's is [{}]", source, name,
              fmt::join(t.sizes(), ", "), fmt::join(avg.sizes(), ", "));
    avg.copy_(t);
  }
  updates_ = updates;
}

}  // namespace vdm::train
