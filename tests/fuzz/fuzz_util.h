// Shared by the libFuzzer targets (one per parser of outside data; docs/reliability.md).
//
// The contract under test: a parser given any bytes either succeeds or throws vdm::Error (the
// error a user sees, naming the file and the problem). Any other exception, a crash, a
// sanitizer report, a hang (-timeout) or an allocation far beyond the input (-malloc_limit_mb)
// is a finding. Targets write inputs that need a path into one private temporary folder.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "vdm/core/error.h"
#include "vdm/core/log.h"

namespace vdm::fuzz {

// A folder of this process's own, made once, under $TMPDIR, and removed when the fuzzer exits
// normally (a crash leaves it, with the input that caused it). Never freed: the exit handler
// reads it after static destructors may have run.
inline std::filesystem::path* g_scratch = nullptr;

inline const std::filesystem::path& scratch() {
  if (g_scratch == nullptr) {
    const char* base = std::getenv("TMPDIR");
    g_scratch = new std::filesystem::path(std::filesystem::path(base && *base ? base : "/tmp") /
                                          ("vdm-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*g_scratch);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*g_scratch, ec);
    });
  }
  return *g_scratch;
}

inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const auto path = (scratch() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs `fn`; vdm::Error is the expected way to reject input, anything else aborts (a finding).
// With `file`, the error must also name it (users must learn which file was wrong).
template <typename Fn>
void expect_ok_or_error(Fn&& fn, const std::string& file = {}) {
  try {
    fn();
  } catch (const vdm::Error& e) {
    if (!file.empty() && std::string_view(e.what()).find(file) == std::string_view::npos) {
      std::fprintf(stderr, "finding: an error does not name the file %s: %s\n", file.c_str(), e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: a parser threw something other than vdm::Error: %s\n", e.what());
    std::abort();
  }
}

inline void quiet() { vdm::init_logging("off"); }

}  // namespace vdm::fuzz
