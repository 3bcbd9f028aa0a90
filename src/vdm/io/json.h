// JSON from files vdm did not write (configs, safetensors headers, shard indexes): parsed with
// nlohmann-json after checks it does not make itself. Nesting depth is bounded before parsing
// (nlohmann recurses, so a deep file would overflow the stack) and duplicate keys are an error
// (nlohmann silently keeps the last one, which would let two readers disagree on a file).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vdm/core/error.h"

namespace vdm::io {

using Json = nlohmann::ordered_json;  // keeps the file's key order

constexpr int kMaxJsonDepth = 64;
constexpr uint64_t kMaxJsonFileBytes = 64ull * 1024 * 1024;

// Throws vdm::Error "<source>: JSON nesting deeper than <max_depth>" if it is; strings and
// escapes are skipped, so brackets inside strings do not count.
void check_json_depth(std::string_view text, int max_depth, const std::string& source);

// Parses `text`; errors name `source` and the parser's position.
Json parse_json(std::string_view text, const std::string& source, int max_depth = kMaxJsonDepth);

// Reads and parses a JSON file of at most `max_bytes`.
Json read_json_file(const std::string& path, uint64_t max_bytes = kMaxJsonFileBytes);

// Reads a whole (small) file; throws naming the path when it cannot, or when it is larger
// than max_bytes.
std::string read_text_file(const std::string& path, uint64_t max_bytes);

// Config objects: every key of `j` must be one of `known` (a typo must not be silently
// ignored). Throws "<what>: unknown field 'k'; expected a, b, ..." or "<what>: expected a JSON
// object".
void check_fields(const Json& j, const std::string& what, const std::vector<std::string>& known);

// j[key] into `out` when present and not null (otherwise `out` keeps its default). A value of
// the wrong type is an error naming `what`, the key and the value.
template <typename T>
void read_field(const Json& j, const std::string& key, T& out, const std::string& what) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = j[key].get<T>();
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: field '{}' has the wrong type ({}): {}", what, key, j[key].dump(), e.what()));
  }
}

}  // namespace vdm::io
