// JSON from outside (configs, headers, indexes): every malformed or out-of-range input is a
// vdm::Error naming the source, never nlohmann's own exception or undefined behaviour. The
// cases here are the fuzzers' findings (docs/reliability.md), kept as regressions.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vdm/core/error.h"
#include "vdm/io/json.h"
#include "vdm/models/unet3d.h"

namespace vdm::io {
namespace {

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Json, NumbersTooLargeForADoubleAreAnErrorNamingTheSource) {
  // nlohmann throws out_of_range (406) here, not parse_error: found by fuzz_scheduler_config.
  for (const std::string text : {"{\"a\": 1e400}", "[3.1622776601683795e6935489924]", "77777E777777777"}) {
    const auto message = error_of([&] { parse_json(text, "x.json"); });
    EXPECT_NE(message.find("x.json: not valid JSON"), std::string::npos) << text << ": " << message;
  }
}

TEST(Json, IntegerFieldsTakeIntegralNumbersInRangeOnly) {
  const auto j = parse_json(R"({"i": 7, "f": 7.0, "half": 2.5, "big": 1e300, "neg": -1, "huge": 18446744073709551615,
                                "list": [1, 2.0, 3], "bad_list": [1, 1e20], "s": "7"})",
                            "t");
  int64_t i = 0;
  read_field(j, "i", i, "cfg");
  EXPECT_EQ(i, 7);
  read_field(j, "f", i, "cfg");
  EXPECT_EQ(i, 7);
  EXPECT_NE(error_of([&] { read_field(j, "half", i, "cfg"); }).find("cfg: field 'half' is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_field(j, "big", i, "cfg"); }).find("field 'big'"), std::string::npos);
  EXPECT_NE(error_of([&] { read_field(j, "huge", i, "cfg"); }).find("field 'huge'"), std::string::npos);
  EXPECT_NE(error_of([&] { read_field(j, "s", i, "cfg"); }).find("wrong type"), std::string::npos);
  uint64_t u = 0;
  EXPECT_NE(error_of([&] { read_field(j, "neg", u, "cfg"); }).find("field 'neg'"), std::string::npos);
  read_field(j, "huge", u, "cfg");
  EXPECT_EQ(u, UINT64_MAX);
  int small = 0;
  EXPECT_NE(error_of([&] { read_field(j, "huge", small, "cfg"); }).find("out of range"), std::string::npos);
  std::vector<int64_t> list;
  read_field(j, "list", list, "cfg");
  EXPECT_EQ(list, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_NE(error_of([&] { read_field(j, "bad_list", small, "cfg"); }).find("bad_list"), std::string::npos);
  std::vector<int> ints;
  EXPECT_NE(error_of([&] { read_field(j, "bad_list", ints, "cfg"); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { read_field(parse_json("[1]", "t"), "x", i, "cfg"); }).find("expected a JSON object"),
            std::string::npos);
}

TEST(Json, ClassNamesOfTheWrongTypeAreAnError) {
  // Found by fuzz_model_config: "_class_name": 3 made nlohmann throw type_error.
  const auto message = error_of([] {
    models::UNet3DConfig::from_diffusers(parse_json(R"({"_class_name": 3, "block_out_channels": [32]})", "t"));
  });
  EXPECT_NE(message.find("_class_name"), std::string::npos) << message;
}

}  // namespace
}  // namespace vdm::io
