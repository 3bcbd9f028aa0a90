// Logging: spdlog's default logger, to stderr, with levels. Configured once by the CLI.
#pragma once
#include <spdlog/spdlog.h>

#include <string>

namespace vdm {

// "trace", "debug", "info", "warn", "error", "off". Throws vdm::Error for other names.
void init_logging(const std::string& level = "info");

}  // namespace vdm
