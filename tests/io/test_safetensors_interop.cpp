// Interop with files written by Python (diffusers' save_pretrained through the reference
// layout; tools/make_safetensors_fixtures.py). No GPU machine with the reference Rust library
// was available, so these fixtures are the oracle; see tools/README.md.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_util.h"
#include "vdm/core/error.h"
#include "vdm/io/checkpoint.h"
#include "vdm/io/json.h"
#include "vdm/io/safetensors.h"

namespace {

using vdm::test::fixture;

TEST(SafetensorsInterop, AllDtypesMatchTheValuesPythonWrote) {
  const auto file = vdm::io::load_safetensors(fixture("safetensors/all_dtypes.safetensors"));
  const auto expected = vdm::io::read_json_file(fixture("safetensors/all_dtypes.json"));
  ASSERT_EQ(file.tensors.size(), expected["tensors"].size());
  for (const auto& [name, spec] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const torch::Tensor& t = file.at(name);
    EXPECT_EQ(vdm::io::safetensors_dtype_name(t.scalar_type()), spec["dtype"].get<std::string>());
    EXPECT_EQ(t.sizes().vec(), spec["shape"].get<std::vector<int64_t>>());
    const auto flat = t.reshape({-1});
    const auto& values = spec["values"];
    ASSERT_EQ(flat.numel(), static_cast<int64_t>(values.size()));
    for (int64_t i = 0; i < flat.numel(); ++i) {
      if (t.scalar_type() == torch::kBool) {
        EXPECT_EQ(flat[i].item<bool>(), values[i].get<bool>());
      } else if (t.is_floating_point()) {
        // F16/BF16 values are stored as their exact float32 value: compare exactly.
        EXPECT_EQ(flat[i].item<double>(), values[i].get<double>()) << i;
      } else {
        EXPECT_EQ(flat[i].item<int64_t>(), values[i].get<int64_t>()) << i;
      }
    }
  }
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.metadata.at("note"), "vdm fixture");
}

// vdm writes the same bytes the Python writer wrote (same layout rules), so its files load
// wherever the Python ones do.
TEST(SafetensorsInterop, VdmWritesByteIdenticalFiles) {
  const std::string path = fixture("safetensors/all_dtypes.safetensors");
  const auto file = vdm::io::load_safetensors(path);
  EXPECT_EQ(vdm::io::serialize_safetensors(file.tensors, file.metadata),
            vdm::test::read_bytes(path));
}

TEST(SafetensorsInterop, DiffusersFolderAndItsShardsHoldTheSameWeights) {
  const auto single = vdm::io::load_checkpoint(fixture("safetensors/diffusers_tiny_unet"));
  const auto sharded = vdm::io::load_checkpoint(fixture("safetensors/diffusers_tiny_unet_sharded"));
  ASSERT_GT(single.tensors.size(), 100u);
  ASSERT_EQ(single.tensors.size(), sharded.tensors.size());
  for (const auto& [name, t] : single.tensors) {
    ASSERT_TRUE(sharded.contains(name)) << name;
    EXPECT_TRUE(torch::equal(t, sharded.at(name))) << name;
  }
  EXPECT_TRUE(single.contains("conv_in.weight"));
  const auto r = vdm::test::run_vdm("info " + fixture("safetensors/diffusers_tiny_unet_sharded"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("conv_in.weight"), std::string::npos);
}

TEST(SafetensorsSharded, HostileIndexesAreErrorsNamingTheIndex) {
  // Fuzzer findings (fuzz_sharded_index): a shard that does not exist, and a shard name too long
  // for the file system (std::filesystem threw its own exception).
  vdm::test::TempDir dir;
  vdm::io::save_safetensors(dir.file("a.safetensors"), {{"w", torch::ones({2})}});
  const std::vector<std::string> indexes = {
      R"({"weight_map": {"w": "missing.safetensors"}})",
      R"({"weight_map": {"w": ")" + std::string(5000, 'x') + R"(.safetensors"}})",
      R"({"weight_map": {"w": "../a.safetensors"}})",
      R"({"weight_map": {"w": 3}})",
  };
  for (const auto& text : indexes) {
    const auto index = dir.file("model.safetensors.index.json");
    vdm::test::write_bytes(index, text);
    try {
      vdm::io::load_sharded_safetensors(index);
      ADD_FAILURE() << "accepted: " << text.substr(0, 80);
    } catch (const vdm::Error& e) {
      EXPECT_NE(std::string(e.what()).find("model.safetensors.index.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
