#include <gtest/gtest.h>

#include <cstring>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/checkpoint.h"
#include "vdm/io/safetensors.h"

namespace {

using vdm::test::TempDir;

// Bitwise equality (NaN-safe): compare the raw bytes.
bool bit_identical(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  const size_t n = ca.numel() * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

vdm::io::TensorList every_dtype() {
  torch::manual_seed(1);
  auto f = torch::randn({3, 4}, torch::kFloat64);
  f[0][0] = std::numeric_limits<double>::quiet_NaN();
  f[0][1] = -std::numeric_limits<double>::infinity();
  return {
      {"f64", f},
      {"f32", torch::randn({2, 3, 4})},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(-3, 3, torch::kInt64)},
      {"i32", torch::randint(-1000, 1000, {7}, torch::kInt32)},
      {"i16", torch::randint(-300, 300, {3, 1}, torch::kInt16)},
      {"i8", torch::randint(-128, 127, {9}, torch::kInt8)},
      {"u8", torch::randint(0, 255, {2, 5}, torch::kUInt8)},
      {"bool", torch::rand({6}) > 0.5},
      {"empty", torch::empty({0, 3})},
      {"scalar", torch::tensor(3.5f).reshape({})},
  };
}

TEST(Safetensors, RoundTripEveryDtypeIsBitIdentical) {
  TempDir dir;
  const auto tensors = every_dtype();
  const vdm::io::Metadata meta = {{"format", "pt"}, {"config", "{\"a\": 1}"}};
  vdm::io::save_safetensors(dir.file("a.safetensors"), tensors, meta);
  const auto loaded = vdm::io::load_safetensors(dir.file("a.safetensors"));
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(loaded.contains(name)) << name;
    EXPECT_TRUE(bit_identical(loaded.at(name), t)) << name;
  }
  EXPECT_EQ(loaded.at("scalar").dim(), 0);
  EXPECT_EQ(loaded.at("empty").numel(), 0);
  EXPECT_EQ(loaded.metadata, meta);
  // Writing what was read gives the same bytes: the layout is canonical.
  vdm::io::save_safetensors(dir.file("b.safetensors"), loaded.tensors, loaded.metadata);
  EXPECT_EQ(vdm::test::read_bytes(dir.file("a.safetensors")),
            vdm::test::read_bytes(dir.file("b.safetensors")));
}

TEST(Safetensors, LayoutFollowsTheFormat) {
  const std::string bytes =
      vdm::io::serialize_safetensors({{"b", torch::ones({2})}, {"a", torch::zeros({1}, torch::kFloat64)}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // padded so the buffer is 8-aligned
  EXPECT_EQ(bytes.size(), 8 + n + 8 + 2 * 4);
  const std::string header = bytes.substr(8, n);
  // F64 sorts before F32 (reference order: dtype descending, then name).
  EXPECT_LT(header.find("\"a\""), header.find("\"b\""));
  EXPECT_NE(header.find("\"data_offsets\":[0,8]"), std::string::npos) << header;
}

TEST(Safetensors, LoadedTensorsAreWritableWithoutTouchingTheFile) {
  TempDir dir;
  vdm::io::save_safetensors(dir.file("w.safetensors"), {{"w", torch::zeros({4})}});
  const std::string before = vdm::test::read_bytes(dir.file("w.safetensors"));
  auto file = vdm::io::load_safetensors(dir.file("w.safetensors"));
  file.at("w").add_(1);  // the mapping is private copy-on-write
  EXPECT_EQ(file.at("w").sum().item<float>(), 4.0f);
  EXPECT_EQ(vdm::test::read_bytes(dir.file("w.safetensors")), before);
}

TEST(Safetensors, FailedWriteKeepsThePreviousFile) {
  TempDir dir;
  vdm::io::save_safetensors(dir.file("c.safetensors"), {{"x", torch::ones({3})}});
  const std::string before = vdm::test::read_bytes(dir.file("c.safetensors"));
  // A tensor of an unsupported dtype fails the write after the old file exists.
  EXPECT_THROW(vdm::io::save_safetensors(dir.file("c.safetensors"),
                                         {{"x", torch::ones({3}, torch::kComplexFloat)}}),
               vdm::Error);
  EXPECT_EQ(vdm::test::read_bytes(dir.file("c.safetensors")), before);
  EXPECT_THROW(vdm::io::save_safetensors(dir.file("missing/c.safetensors"), {{"x", torch::ones({1})}}),
               vdm::Error);
  // No temporary files are left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

// A file image: u64 header length, header text, data bytes.
std::string image(const std::string& header, const std::string& data = "", int64_t length = -1) {
  const uint64_t n = length < 0 ? header.size() : static_cast<uint64_t>(length);
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

struct Hostile {
  const char* name;
  std::string bytes;
  const char* rule;  // a phrase the error must contain
};

std::vector<Hostile> hostile_files() {
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";
  const std::string eight(8, '\0');
  std::string deep = "{\"a\":";
  for (int i = 0; i < 200; ++i) deep += "[";
  for (int i = 0; i < 200; ++i) deep += "]";
  deep += "}";
  return {
      {"zero_bytes", "", "8-byte header length"},
      {"header_len_huge", image("{}", "", int64_t(1) << 62), "exceeds the limit"},
      {"header_len_past_end", image("{}", "", 1000), "runs past the end"},
      {"header_not_json", image("{not json at all"), "not valid JSON"},
      {"header_not_object", image("[1, 2, 3]"), "not a JSON object"},
      {"header_deep_nesting", image(deep), "nesting deeper"},
      {"unknown_dtype", image(R"({"t":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})", "x"),
       "unknown dtype"},
      {"negative_shape", image(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"),
       "negative"},
      {"overflowing_shape",
       image(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "abcd"),
       "overflows"},
      {"offsets_reversed", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[8,0]}}", eight), "reversed"},
      {"offsets_past_end", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0,8]}}", "abcd"),
       "truncated"},
      {"offsets_overlap",
       image("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + f32x2 +
                 ",\"data_offsets\":[4,12]}}",
             std::string(12, '\0')),
       "overlap"},
      {"offsets_gap",
       image("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + f32x2 +
                 ",\"data_offsets\":[12,20]}}",
             std::string(20, '\0')),
       "gap"},
      {"size_mismatch", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0,4]}}", "abcd"),
       "size mismatch"},
      {"duplicate_names",
       image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0,8]},\"t\":{" + f32x2 +
                 ",\"data_offsets\":[8,16]}}",
             std::string(16, '\0')),
       "duplicate key"},
      {"metadata_not_string",
       image(R"({"__metadata__":{"steps":1000},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
             "x"),
       "must be a string"},
      {"truncated_data", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0,8]}}", "abc"), "truncated"},
      {"trailing_bytes", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0,8]}}", std::string(12, '\0')),
       "trailing"},
      {"offsets_not_integers", image("{\"t\":{" + f32x2 + ",\"data_offsets\":[0.5,8]}}", eight),
       "non-negative integers"},
  };
}

TEST(Safetensors, HostileFilesAreRejectedNamingTheRule) {
  TempDir dir;
  for (const auto& h : hostile_files()) {
    const std::string path = dir.file(std::string(h.name) + ".safetensors");
    vdm::test::write_bytes(path, h.bytes);
    try {
      vdm::io::load_safetensors(path);
      ADD_FAILURE() << h.name << ": loaded without error";
    } catch (const vdm::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(h.rule), std::string::npos) << h.name << ": " << msg;
      EXPECT_NE(msg.find(path), std::string::npos) << h.name << " does not name the file: " << msg;
    }
  }
}

// The same files through `vdm info`: non-zero exit, `error:` and the rule, never a crash.
TEST(Safetensors, HostileFilesMakeVdmInfoFail) {
  TempDir dir;
  for (const auto& h : hostile_files()) {
    const std::string path = dir.file(std::string(h.name) + ".safetensors");
    vdm::test::write_bytes(path, h.bytes);
    const auto r = vdm::test::run_vdm("info --threads 1 '" + path + "'");
    EXPECT_EQ(r.exit_code, 1) << h.name << ": " << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << h.name << ": " << r.output;
    EXPECT_NE(r.output.find(h.rule), std::string::npos) << h.name << ": " << r.output;
  }
}

TEST(Safetensors, ShardedCheckpointLoadsAndStaysInItsFolder) {
  TempDir dir;
  vdm::io::save_safetensors(dir.file("m-1.safetensors"), {{"a", torch::ones({2})}});
  vdm::io::save_safetensors(dir.file("m-2.safetensors"), {{"b", torch::zeros({3})}});
  vdm::test::write_bytes(dir.file("m.safetensors.index.json"),
                         R"({"metadata":{"total_size":20},"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})");
  const auto file = vdm::io::load_checkpoint(dir.file("m.safetensors.index.json"));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_TRUE(torch::equal(file.at("a"), torch::ones({2})));
  EXPECT_TRUE(torch::equal(file.at("b"), torch::zeros({3})));

  // A shard path that leaves the folder, absolute or through "..", is refused.
  std::filesystem::create_directories(dir.path() / "sub");
  vdm::io::save_safetensors(dir.file("outside.safetensors"), {{"a", torch::ones({2})}});
  for (const std::string& shard : std::vector<std::string>{"../outside.safetensors", dir.file("outside.safetensors")}) {
    vdm::test::write_bytes(dir.file("sub/evil.safetensors.index.json"),
                           R"({"weight_map":{"a":")" + shard + R"("}})");
    const auto r = vdm::test::run_vdm("info '" + dir.file("sub/evil.safetensors.index.json") + "'");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("leaves the checkpoint's folder"), std::string::npos) << r.output;
  }
  // A shard holding a tensor the index does not map to it is refused.
  vdm::test::write_bytes(dir.file("bad.safetensors.index.json"),
                         R"({"weight_map":{"b":"m-1.safetensors"}})");
  EXPECT_THROW(vdm::io::load_checkpoint(dir.file("bad.safetensors.index.json")), vdm::Error);
}

TEST(Safetensors, PickleIsRefused) {
  TempDir dir;
  vdm::test::write_bytes(dir.file("model.ckpt"), "PK\x03\x04");
  try {
    vdm::io::load_checkpoint(dir.file("model.ckpt"));
    FAIL();
  } catch (const vdm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pickle"), std::string::npos);
  }
}

TEST(Safetensors, VdmInfoShowsTensorsMetadataAndNonFinite) {
  TempDir dir;
  auto w = torch::ones({2, 3});
  w[0][0] = std::numeric_limits<float>::quiet_NaN();
  w[1][2] = std::numeric_limits<float>::infinity();
  vdm::io::save_safetensors(dir.file("m.safetensors"), {{"layer.weight", w}, {"step", torch::tensor(7)}},
                            {{"format", "pt"}});
  const auto r = vdm::test::run_vdm("info '" + dir.file("m.safetensors") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("layer.weight"), std::string::npos);
  EXPECT_NE(r.output.find("[2, 3]"), std::string::npos);
  EXPECT_NE(r.output.find("format: pt"), std::string::npos);
  EXPECT_NE(r.output.find("2 tensors, 7 parameters"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 NaN, 1 Inf"), std::string::npos) << r.output;
}

}  // namespace
