// vdm: the command-line entry point. Parses flags, applies the global run-time choices
// (threads, logging), runs one subcommand, and turns exceptions into `error: ...` with a
// non-zero exit: 1 for failures, 2 for bad usage.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "vdm/cli/commands.h"
#include "vdm/core/error.h"
#include "vdm/core/log.h"
#include "vdm/core/runtime.h"

namespace {

using vdm::cli::Command;

const std::vector<Command>& command_table() {
  static const std::vector<Command> table = {
      {"info", "Show what a checkpoint, diffusers folder or video file holds",
       vdm::cli::setup_info},
      {"sample", "Sample a denoiser with a chosen sampler and schedule (diffusers scheduler configs)",
       vdm::cli::setup_sample},
      {"generate", "Make a clip from a prompt with the shipped text-to-video model (or --checkpoint)",
       vdm::cli::setup_generate},
      {"extend", "Make a clip longer: new frames that continue it (reconstruction guidance)", vdm::cli::setup_extend},
      {"interpolate", "Raise a clip's frame rate: new frames between its frames (reconstruction guidance)",
       vdm::cli::setup_interpolate},
      {"train", "Train the text-to-video model on synthetic:moving-shapes or folder:DIR", vdm::cli::setup_train},
      {"eval", "Score a text-to-video model on held-out moving-shapes prompts (table, grid, report)",
       vdm::cli::setup_eval},
  };
  return table;
}

// The first word that is neither a flag nor a global flag's value must name a command:
// "vdm frobnicate" says so (CLI11 alone would only say that a subcommand is required).
void check_command_name(int argc, char** argv) {
  static const std::vector<std::string> takes_value = {"--threads", "--device", "--dtype", "--log-level"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind('-', 0) == 0) {
      const bool inline_value = arg.find('=') != std::string::npos;
      if (!inline_value && std::find(takes_value.begin(), takes_value.end(), arg) != takes_value.end()) ++i;
      continue;
    }
    std::string names;
    for (const auto& command : command_table()) {
      if (arg == command.name) return;
      names += (names.empty() ? "" : ", ") + std::string(command.name);
    }
    throw vdm::UsageError(fmt::format("unknown command '{}'; expected one of: {}", arg, names));
  }
}

int run(int argc, char** argv) {
  CLI::App app{"vdm: train, sample and run video diffusion models natively", "vdm"};
  app.set_version_flag("--version", std::string("vdm ") + VDM_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand

  vdm::cli::GlobalOptions global;
  app.add_option("--threads", global.threads, "CPU threads (default: every core)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--device", global.device, "cpu, cuda, cuda:N or auto")
      ->capture_default_str();
  app.add_option("--dtype", global.dtype, "compute type: f32, bf16 (GPU or AVX512-BF16/AMX CPU), f16 (GPU)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", global.quiet, "no progress output");
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  std::vector<std::pair<CLI::App*, vdm::cli::Runner>> runners;
  for (const auto& command : command_table()) {
    CLI::App* sub = app.add_subcommand(command.name, command.summary);
    runners.emplace_back(sub, command.setup(*sub, global));
  }

  // Parse errors in vdm's one format: "error: <what>", exit code 2.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "error: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  check_command_name(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the parse error
    return code == 0 ? 0 : 2;
  }

  // Global flags, before any command runs: a device this machine lacks is a usage error.
  torch::Device device = torch::kCPU;
  try {
    device = vdm::parse_device(global.device);
  } catch (const vdm::Error& e) {
    throw vdm::UsageError(fmt::format("--device {}: {}", global.device, e.what()));
  }
  try {
    vdm::parse_dtype(global.dtype, device);
  } catch (const vdm::Error& e) {
    throw vdm::UsageError(fmt::format("--dtype {}: {}", global.dtype, e.what()));
  }
  vdm::init_logging(global.quiet && global.log_level == "info" ? "warn" : global.log_level);
  vdm::set_threads(global.threads);
  for (auto& [sub, runner] : runners) {
    if (sub->parsed()) return runner();
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A write past the file-size limit (ulimit -f) then fails with EFBIG, which the writers
  // report and recover from (the previous file stays), instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  vdm::configure_allocator();  // before LibTorch allocates anything large
  try {
    return run(argc, argv);
  } catch (const vdm::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const vdm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
