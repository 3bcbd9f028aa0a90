// JSON from files vdm did not write (configs, safetensors headers, shard indexes): parsed with
// nlohmann-json after checks it does not make itself. Nesting depth is bounded before parsing
// (nlohmann recurses, so a deep file would overflow the stack) and duplicate keys are an error
// (nlohmann silently keeps the last one, which would let two readers disagree on a file).
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
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

namespace detail {
template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};

// v as a T, checked: an integer must be a JSON integer, or a float with an integral value, in
// T's range (nlohmann's own conversion casts out-of-range floats, which is undefined
// behaviour, and wraps negative numbers into unsigned types). Throws Json::exception or
// std::out_of_range on a mismatch.
template <typename T>
T json_as(const Json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      // [min, max + 1) exactly in double: both ends are 0 or powers of two.
      const double lo = static_cast<double>(std::numeric_limits<T>::min());
      const double top = 2.0 * (static_cast<double>(std::numeric_limits<T>::max() / 2) + 1);
      if (!(d >= lo && d < top) || d != std::floor(d)) throw std::out_of_range("not an integer in range");
      return static_cast<T>(d);
    }
    if (!v.is_number_integer()) return v.get<T>();  // a type_error for strings, objects, ...
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) throw std::out_of_range("integer out of range");
      return static_cast<T>(u);
    }
    const auto i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0) throw std::out_of_range("negative value for an unsigned field");
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        throw std::out_of_range("integer out of range");
      }
    } else if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
               i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      throw std::out_of_range("integer out of range");
    }
    return static_cast<T>(i);
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) return v.get<T>();  // type_error
    T out;
    out.reserve(v.size());
    for (const auto& item : v) out.push_back(json_as<typename T::value_type>(item));
    return out;
  } else {
    return v.get<T>();
  }
}
}  // namespace detail

// j[key] into `out` when present and not null (otherwise `out` keeps its default). A value of
// the wrong type, or a number outside the field's range, is an error naming `what`, the key
// and the value.
template <typename T>
void read_field(const Json& j, const std::string& key, T& out, const std::string& what) {
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object, got {}", what, j.type_name()));
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = detail::json_as<T>(j[key]);
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: field '{}' has the wrong type ({}): {}", what, key, j[key].dump(), e.what()));
  } catch (const std::out_of_range& e) {
    throw Error(fmt::format("{}: field '{}' is out of range ({}): {}", what, key, j[key].dump(), e.what()));
  }
}

// j[key] as a T, or `fallback` when j is an object without it (or it is null). A value of
// another type, or a j that is not an object, is a vdm::Error naming `what` and the key
// (nlohmann's own value() would throw its type_error).
template <typename T>
T field_or(const Json& j, const std::string& key, T fallback, const std::string& what) {
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object, got {}", what, j.type_name()));
  read_field(j, key, fallback, what);
  return fallback;
}

}  // namespace vdm::io
