// vdm::Error: the one exception type vdm throws for anything a user can get wrong.
// Messages say what was wrong, where, and what was expected. The CLI catches it once, prints
// `error: <message>` and exits 1; UsageError (bad flags) exits 2.
// Checks on user input use VDM_CHECK, never assert(): a Release build rejects what Debug does.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace vdm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A bad command-line flag or flag combination (exit code 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

}  // namespace vdm

// VDM_CHECK(cond, "fmt {}", args...): throws vdm::Error with the formatted message.
#define VDM_CHECK(cond, ...)                                   \
  do {                                                         \
    if (!(cond)) throw ::vdm::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

// VDM_USAGE_CHECK: the same for command-line input (UsageError, exit code 2).
#define VDM_USAGE_CHECK(cond, ...)                                  \
  do {                                                              \
    if (!(cond)) throw ::vdm::UsageError(::fmt::format(__VA_ARGS__)); \
  } while (0)
