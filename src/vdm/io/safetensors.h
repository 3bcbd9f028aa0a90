// safetensors: the checkpoint format vdm reads and writes (never pickle).
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N
// bytes of UTF-8 JSON (an object, possibly padded with trailing spaces), then the data buffer.
// Each JSON entry other than "__metadata__" is
//   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the buffer, row-major, no strides. "__metadata__" maps strings to
// strings.
//
// Files are untrusted: the reader validates everything before it makes a tensor (header length
// capped and inside the file, JSON depth bounded, known dtypes, shapes whose element count
// cannot overflow, offsets ordered, sized exactly, non-overlapping and covering the buffer,
// no duplicate names, string metadata) and each violation throws vdm::Error naming the file,
// the tensor and the rule. Reading maps the file (mmap); tensors alias the mapping without a
// copy where the data is aligned for its dtype, and the mapping lives as long as any of them.
//
//   auto file = vdm::io::load_safetensors("model.safetensors");
//   torch::Tensor w = file.at("conv.weight");
//   vdm::io::save_safetensors("out.safetensors", file.tensors, {{"format", "pt"}});
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vdm::io {

// Cap on the JSON header (the reference implementation uses the same 100 MB bound).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;
// Bound on JSON nesting; a valid header needs 3 (object -> tensor -> shape).
constexpr int kMaxSafetensorsDepth = 8;

using TensorList = std::vector<std::pair<std::string, torch::Tensor>>;
using Metadata = std::map<std::string, std::string>;

// One tensor's entry in the header.
struct TensorInfo {
  std::string name;
  torch::Dtype dtype;
  std::string dtype_name;  // as written in the file: "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data buffer
};

// The validated header of a file: what `vdm info` shows without touching the data.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in file order
  Metadata metadata;
  uint64_t header_size = 0;  // N
  uint64_t data_size = 0;    // bytes in the buffer
};

// A loaded file (or set of shards): tensors in header order, plus metadata.
struct TensorFile {
  TensorList tensors;
  Metadata metadata;

  bool contains(const std::string& name) const;
  const torch::Tensor& at(const std::string& name) const;  // throws naming the missing key
  std::map<std::string, torch::Tensor> to_map() const;
};

// Parses and validates the header of an in-memory file image. `source` names the file in
// error messages. Exposed for tests and fuzzing.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size,
                                           const std::string& source);

// Reads and validates only the header of a file.
SafetensorsHeader read_safetensors_header(const std::string& path);

// Loads a file (mmap). Throws vdm::Error for any violation.
TensorFile load_safetensors(const std::string& path);

// Loads a sharded checkpoint from its `*.safetensors.index.json` (`weight_map`: name -> shard
// file). Each shard must stay inside the index's folder and hold exactly the names mapped to it.
TensorFile load_sharded_safetensors(const std::string& index_path);

// Serializes to a byte string (the exact file contents).
std::string serialize_safetensors(const TensorList& tensors, const Metadata& metadata = {});

// Writes atomically: to a temporary file in the same folder, fsync, rename over `path`, fsync
// the folder. On any failure (e.g. a full disk) the temporary file is removed, an existing
// file at `path` is left intact, and vdm::Error says what failed.
void save_safetensors(const std::string& path, const TensorList& tensors,
                      const Metadata& metadata = {});

// dtype names of the format <-> torch.
torch::Dtype safetensors_dtype(const std::string& name);  // throws for unknown names
std::string safetensors_dtype_name(torch::Dtype dtype);   // throws for unsupported dtypes

}  // namespace vdm::io
