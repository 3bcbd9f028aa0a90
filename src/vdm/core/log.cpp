#include "vdm/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "vdm/core/error.h"

namespace vdm {

void init_logging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to "off": accept "off" only when asked for.
  VDM_CHECK(parsed != spdlog::level::off || level == "off",
            "unknown log level '{}'; expected one of: trace, debug, info, warn, error, off", level);
  auto logger = spdlog::get("vdm");
  if (!logger) logger = spdlog::stderr_color_mt("vdm");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace vdm
