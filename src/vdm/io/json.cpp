#include "vdm/io/json.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <vector>

#include "vdm/core/error.h"

namespace vdm::io {

void check_json_depth(std::string_view text, int max_depth, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // skip the escaped character
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        throw Error(fmt::format("{}: JSON nesting deeper than {} levels (at byte {})", source,
                                max_depth, i));
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

Json parse_json(std::string_view text, const std::string& source, int max_depth) {
  check_json_depth(text, max_depth, source);
  // One set of keys per open object; a key seen twice in the same object is an error.
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: keys.emplace_back(); break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default: break;
    }
    return true;
  };
  Json result;
  try {
    result = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()));
  } catch (const Json::exception& e) {  // e.g. out_of_range 406: a number too large for a double
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  VDM_CHECK(duplicate.empty(), "{}: duplicate key '{}' in a JSON object", source, duplicate);
  return result;
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  struct stat st {};
  VDM_CHECK(::stat(path.c_str(), &st) == 0, "cannot read '{}': no such file", path);
  VDM_CHECK(S_ISREG(st.st_mode), "cannot read '{}': not a regular file", path);
  VDM_CHECK(static_cast<uint64_t>(st.st_size) <= max_bytes,
            "'{}' is {} bytes; at most {} are accepted for this kind of file", path, st.st_size,
            max_bytes);
  std::ifstream in(path, std::ios::binary);
  VDM_CHECK(in.good(), "cannot open '{}' for reading", path);
  std::string text(static_cast<size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  VDM_CHECK(in.gcount() == static_cast<std::streamsize>(text.size()), "cannot read '{}': short read",
            path);
  return text;
}

Json read_json_file(const std::string& path, uint64_t max_bytes) {
  return parse_json(read_text_file(path, max_bytes), path);
}

void check_fields(const Json& j, const std::string& what, const std::vector<std::string>& known) {
  VDM_CHECK(j.is_object(), "{}: expected a JSON object, got {}", what, j.dump());
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(fmt::format("{}: unknown field '{}'; expected {}", what, key, list));
  }
}

}  // namespace vdm::io
