#include "vdm/train/checkpoint.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <type_traits>

#include "vdm/core/error.h"

namespace vdm::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step_";
constexpr const char* kSuffix = ".safetensors";

// LibTorch keys optimizer state by the parameter's TensorImpl: 1.13 as the pointer printed to
// a string (c10::guts::to_string), later versions as the pointer itself. The key type of the
// map says which.
using StateMap = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using StateKey = typename StateMap::key_type;

template <typename Key>
Key key_of(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << impl;
    return s.str();
  } else {
    return static_cast<Key>(impl);
  }
}

StateKey state_key(const torch::Tensor& p) { return key_of<StateKey>(p.unsafeGetTensorImpl()); }

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / "checkpoints" / fmt::format("{}{:08d}{}", kPrefix, step, kSuffix)).string();
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t p = std::char_traits<char>::length(kPrefix), s = std::char_traits<char>::length(kSuffix);
    if (name.size() <= p + s || name.compare(0, p, kPrefix) != 0 ||
        name.compare(name.size() - s, s, kSuffix) != 0 || !entry.is_regular_file(ec)) {
      continue;
    }
    const std::string digits = name.substr(p, name.size() - p - s);
    if (digits.empty() || digits.size() > 15 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    out.emplace_back(std::stoll(digits), entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  const auto all = list_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::vector<std::string> partial_writes(const std::string& run_dir) {
  std::vector<std::string> out;
  for (const auto& dir : {fs::path(run_dir), fs::path(run_dir) / "checkpoints"}) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      const auto at = name.rfind(".tmp-");
      if (name.size() < 2 || name[0] != '.' || at == std::string::npos || name.size() != at + 5 + 8) continue;
      if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(at) + 5, name.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
        continue;
      }
      if (entry.is_regular_file(ec)) out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t remove_partial_writes(const std::string& run_dir) {
  int64_t removed = 0;
  for (const auto& path : partial_writes(run_dir)) {
    std::error_code ec;
    if (fs::remove(path, ec)) ++removed;
  }
  return removed;
}

void prune_checkpoints(const std::string& run_dir, int64_t keep) {
  const auto all = list_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(keep, 1)) < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
    if (ec) spdlog::warn("could not delete old checkpoint {}: {}", all[i].second, ec.message());
  }
}

io::Json TrainState::to_json() const {
  io::Json j;
  j["step"] = step;
  j["data_position"] = data_position;
  j["ema_updates"] = ema_updates;
  j["skipped_steps"] = skipped_steps;
  j["skipped_in_a_row"] = skipped_in_a_row;
  j["data"] = data;
  return j;
}

TrainState TrainState::from_json(const io::Json& j) {
  TrainState s;
  try {
    s.step = io::detail::json_as<int64_t>(j.at("step"));
    s.data_position = io::detail::json_as<int64_t>(j.at("data_position"));
    s.ema_updates = io::detail::json_as<int64_t>(j.at("ema_updates"));
    s.skipped_steps = io::detail::json_as<int64_t>(j.at("skipped_steps"));
    if (j.contains("skipped_in_a_row")) s.skipped_in_a_row = io::detail::json_as<int64_t>(j.at("skipped_in_a_row"));
    s.data = j.at("data").get<std::string>();
  } catch (const io::Json::exception& e) {
    throw Error(fmt::format("train state: {} (in {})", e.what(), j.dump()));
  } catch (const std::out_of_range& e) {
    throw Error(fmt::format("train state: a counter is out of range: {} (in {})", e.what(), j.dump()));
  }
  VDM_CHECK(s.step >= 0 && s.data_position >= 0 && s.ema_updates >= 0 && s.skipped_steps >= 0 &&
                s.skipped_in_a_row >= 0 && s.skipped_in_a_row <= s.skipped_steps,
            "train state: negative counters in {}", j.dump());
  return s;
}

io::TensorList optimizer_state(const torch::optim::AdamW& optimizer,
                               const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  io::TensorList out;
  const auto& state = optimizer.state();
  for (const auto& [name, p] : params) {
    const auto it = state.find(state_key(p));
    if (it == state.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out.emplace_back("optimizer." + name + ".exp_avg", s.exp_avg().detach());
    out.emplace_back("optimizer." + name + ".exp_avg_sq", s.exp_avg_sq().detach());
    out.emplace_back("optimizer." + name + ".step", torch::full({1}, s.step(), torch::kInt64));
  }
  return out;
}

void load_optimizer_state(torch::optim::AdamW& optimizer,
                          const std::vector<std::pair<std::string, torch::Tensor>>& params,
                          const io::TensorFile& file, const std::string& source) {
  auto& state = optimizer.state();
  state.clear();
  for (const auto& [name, p] : params) {
    const std::string base = "optimizer." + name;
    if (!file.contains(base + ".step")) continue;
    VDM_CHECK(file.contains(base + ".exp_avg") && file.contains(base + ".exp_avg_sq"),
              "{}: optimizer state of '{}' is incomplete (needs exp_avg, exp_avg_sq and step)", source, name);
    const auto& m = file.at(base + ".exp_avg");
    const auto& v = file.at(base + ".exp_avg_sq");
    const auto& step = file.at(base + ".step");
    VDM_CHECK(m.sizes() == p.sizes() && v.sizes() == p.sizes(),
              "{}: optimizer moments of '{}' have shape [{}], the parameter [{}]", source, name,
              fmt::join(m.sizes(), ", "), fmt::join(p.sizes(), ", "));
    VDM_CHECK(step.numel() == 1 && step.scalar_type() == torch::kInt64,
              "{}: optimizer step of '{}' must be one int64", source, name);
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(step.item<int64_t>());
    s->exp_avg(m.to(p.device(), p.scalar_type()).clone());
    s->exp_avg_sq(v.to(p.device(), p.scalar_type()).clone());
    state[state_key(p)] = std::move(s);
  }
}

}  // namespace vdm::train
