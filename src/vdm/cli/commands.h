// The vdm CLI: one file per subcommand, each exporting a setup function that declares the
// subcommand's flags on a CLI11 app and returns the function that runs it. main.cpp holds the
// one table of commands; `vdm --help` and the "unknown command" text come from it.
#pragma once
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "vdm/core/error.h"
#include "vdm/core/progress.h"
#include "vdm/diffusion/sampler.h"

namespace vdm::cli {

// Flags every command takes (declared on the root app; they may follow the subcommand).
struct GlobalOptions {
  int threads = 0;             // 0: every core
  std::string device = "auto";
  std::string dtype = "f32";
  bool quiet = false;
  std::string log_level = "info";

  ProgressOptions progress() const {
    ProgressOptions p;
    p.enabled = !quiet;
    return p;
  }
};

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App& command, const GlobalOptions& global)>;

struct Command {
  const char* name;
  const char* summary;
  Setup setup;
};

// The sampler a --sampler flag names; an unknown name is a UsageError listing the valid ones.
inline const diffusion::SamplerInfo& sampler_flag(const std::string& name) {
  try {
    return diffusion::find_sampler(name);
  } catch (const Error& e) {
    throw UsageError(std::string("--sampler: ") + e.what());
  }
}

// -o PATH: the folder it goes in must exist (a PNG folder "DIR/" itself may be new, its parent
// not), checked before any work so a long run does not fail at the end.
inline void output_folder_flag(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (!path.empty() && path.back() == '/') p = fs::path(path.substr(0, path.size() - 1));
  const fs::path parent = p.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw UsageError(fmt::format("--output {}: the folder {} does not exist", path, parent.string()));
  }
}

// A flag naming a file or folder to read: it must exist and be readable, checked before any
// work. `flag` is how the message names it ("--checkpoint", "PATH").
inline void input_path_flag(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (path.empty() || !fs::exists(status)) {
    throw UsageError(fmt::format("{} {}: no such file or folder", flag, path.empty() ? "''" : path));
  }
  if (!fs::is_regular_file(status) && !fs::is_directory(status)) {
    throw UsageError(fmt::format("{} {}: not a file or folder", flag, path));
  }
  if (::access(path.c_str(), R_OK) != 0) {
    throw UsageError(fmt::format("{} {}: cannot be read ({})", flag, path, std::strerror(errno)));
  }
}

// A prompt with words the model never saw is the user's to fix (usage error, exit 2); the
// message names the words and lists the ones the model knows.
template <typename Pipeline>
void prompt_flag(const Pipeline& pipe, const std::string& prompt) {
  try {
    pipe.check_prompt(prompt);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// Defined in the subcommand files.
Runner setup_info(CLI::App& command, const GlobalOptions& global);
Runner setup_sample(CLI::App& command, const GlobalOptions& global);
Runner setup_train(CLI::App& command, const GlobalOptions& global);
Runner setup_generate(CLI::App& command, const GlobalOptions& global);
Runner setup_eval(CLI::App& command, const GlobalOptions& global);
Runner setup_extend(CLI::App& command, const GlobalOptions& global);
Runner setup_interpolate(CLI::App& command, const GlobalOptions& global);

}  // namespace vdm::cli
