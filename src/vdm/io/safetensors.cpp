#include "vdm/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "vdm/core/error.h"
#include "vdm/io/atomic_file.h"
#include "vdm/io/json.h"

namespace vdm::io {
namespace fs = std::filesystem;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors stores little-endian data; vdm maps it without byte swapping");

namespace {

struct DtypeEntry {
  const char* name;
  torch::Dtype dtype;
  size_t size;
  int rank;  // the reference writer orders tensors by this rank, descending, then by name
};

// The reference implementation's Dtype enum order (its derived Ord) gives `rank`.
const DtypeEntry kDtypes[] = {
    {"BOOL", torch::kBool, 1, 0},      {"U8", torch::kUInt8, 1, 1},
    {"I8", torch::kInt8, 1, 2},        {"I16", torch::kInt16, 2, 5},
    {"F16", torch::kFloat16, 2, 7},    {"BF16", torch::kBFloat16, 2, 8},
    {"I32", torch::kInt32, 4, 9},      {"F32", torch::kFloat32, 4, 11},
    {"F64", torch::kFloat64, 8, 12},   {"I64", torch::kInt64, 8, 13},
};

const DtypeEntry* find_dtype(const std::string& name) {
  for (const auto& e : kDtypes)
    if (name == e.name) return &e;
  return nullptr;
}

const DtypeEntry& find_dtype(torch::Dtype dtype) {
  for (const auto& e : kDtypes)
    if (dtype == e.dtype) return e;
  throw Error(fmt::format("safetensors cannot store dtype {}; supported: F64, F32, F16, BF16, "
                          "I64, I32, I16, I8, U8, BOOL",
                          c10::toString(dtype)));
}

std::string known_dtypes() {
  std::string s;
  for (const auto& e : kDtypes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

// A JSON value that must be a non-negative integer: returns it, or throws with `what`.
uint64_t as_u64(const Json& v, const std::string& where, const char* what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    throw Error(fmt::format("{}: {} has a negative value {}", where, what, v.dump()));
  }
  throw Error(fmt::format("{}: {} must hold non-negative integers, found {}", where, what,
                          v.dump()));
}

TensorInfo parse_entry(const std::string& name, const Json& entry, const std::string& source) {
  const std::string where = fmt::format("{}: tensor '{}'", source, name);
  VDM_CHECK(entry.is_object(), "{}: entry must be an object with dtype, shape and data_offsets",
            where);
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    VDM_CHECK(entry.contains(key), "{}: missing \"{}\"", where, key);
  }
  TensorInfo info;
  info.name = name;
  const Json& dtype = entry["dtype"];
  VDM_CHECK(dtype.is_string(), "{}: dtype must be a string, found {}", where, dtype.dump());
  info.dtype_name = dtype.get<std::string>();
  const DtypeEntry* d = find_dtype(info.dtype_name);
  VDM_CHECK(d != nullptr, "{}: unknown dtype '{}'; expected one of {}", where, info.dtype_name,
            known_dtypes());
  info.dtype = d->dtype;

  const Json& shape = entry["shape"];
  VDM_CHECK(shape.is_array(), "{}: shape must be an array, found {}", where, shape.dump());
  uint64_t numel = 1;
  for (const Json& dim : shape) {
    const uint64_t n = as_u64(dim, where, "shape");
    // Element counts (and byte sizes) must fit in int64, torch's index type.
    VDM_CHECK(n <= static_cast<uint64_t>(INT64_MAX) && !__builtin_mul_overflow(numel, n, &numel) &&
                  numel <= static_cast<uint64_t>(INT64_MAX),
              "{}: shape {} has an element count that overflows 64 bits", where, shape.dump());
    info.shape.push_back(static_cast<int64_t>(n));
  }
  uint64_t bytes = 0;
  VDM_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d->size), &bytes) &&
                bytes <= static_cast<uint64_t>(INT64_MAX),
            "{}: shape {} of {} has a byte size that overflows 64 bits", where, shape.dump(),
            info.dtype_name);

  const Json& offsets = entry["data_offsets"];
  VDM_CHECK(offsets.is_array() && offsets.size() == 2,
            "{}: data_offsets must be an array of two integers [begin, end], found {}", where,
            offsets.dump());
  info.begin = as_u64(offsets[0], where, "data_offsets");
  info.end = as_u64(offsets[1], where, "data_offsets");
  VDM_CHECK(info.begin <= info.end, "{}: data_offsets [{}, {}] are reversed (begin must be <= end)",
            where, info.begin, info.end);
  VDM_CHECK(info.end - info.begin == bytes,
            "{}: size mismatch: data_offsets [{}, {}] span {} bytes, but {} x {} needs {} bytes",
            where, info.begin, info.end, info.end - info.begin, info.dtype_name, shape.dump(),
            bytes);
  return info;
}

// A read-only view of a file, private copy-on-write: tensors may be written to without
// touching the file. Unmapped when the last tensor aliasing it is freed.
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data != nullptr && data != MAP_FAILED) ::munmap(data, size);
  }
};

std::shared_ptr<Mapping> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VDM_CHECK(fd >= 0, "cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("cannot read '{}': not a regular file", path));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size < 8) {
    ::close(fd);
    throw Error(fmt::format("{}: file is {} bytes; a safetensors file starts with an 8-byte "
                            "header length",
                            path, mapping->size));
  }
  mapping->data = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  VDM_CHECK(mapping->data != MAP_FAILED, "cannot map '{}': {}", path, std::strerror(errno));
  return mapping;
}

}  // namespace

bool TensorFile::contains(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

const torch::Tensor& TensorFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Error(fmt::format("no tensor named '{}' (the file has {} tensors)", name, tensors.size()));
}

std::map<std::string, torch::Tensor> TensorFile::to_map() const {
  return {tensors.begin(), tensors.end()};
}

torch::Dtype safetensors_dtype(const std::string& name) {
  const DtypeEntry* d = find_dtype(name);
  VDM_CHECK(d != nullptr, "unknown safetensors dtype '{}'; expected one of {}", name,
            known_dtypes());
  return d->dtype;
}

std::string safetensors_dtype_name(torch::Dtype dtype) { return find_dtype(dtype).name; }

SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size,
                                           const std::string& source) {
  VDM_CHECK(size >= 8, "{}: file is {} bytes; a safetensors file starts with an 8-byte header "
                       "length", source, size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);  // little-endian u64 (checked at compile time above)
  VDM_CHECK(n <= kMaxSafetensorsHeader,
            "{}: header length {} exceeds the limit of {} bytes", source, n, kMaxSafetensorsHeader);
  VDM_CHECK(n <= size - 8, "{}: header length {} runs past the end of the file ({} bytes)", source,
            n, size);
  const std::string_view text(reinterpret_cast<const char*>(data + 8), n);
  VDM_CHECK(!text.empty() && text.front() == '{',
            "{}: header is not a JSON object (it must start with '{{')", source);

  SafetensorsHeader header;
  header.header_size = n;
  header.data_size = size - 8 - n;
  const Json json = parse_json(text, source + ": header", kMaxSafetensorsDepth);
  VDM_CHECK(json.is_object(), "{}: header is not a JSON object", source);

  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      VDM_CHECK(entry.is_object(), "{}: __metadata__ must be a map of strings to strings", source);
      for (const auto& [key, value] : entry.items()) {
        VDM_CHECK(value.is_string(),
                  "{}: __metadata__ value of '{}' must be a string, found {}", source, key,
                  value.dump());
        header.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_entry(name, entry, source));
  }

  // The buffer must be covered exactly: sorted by offset, each tensor starts where the last
  // ended, the first at 0 and the last at the end of the file. No gaps, no overlaps.
  std::vector<const TensorInfo*> order;
  for (const auto& t : header.tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin < expected) {
      throw Error(fmt::format("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' "
                              "(which ends at {})",
                              source, t->name, t->begin, t->end, previous->name, expected));
    }
    if (t->begin > expected) {
      throw Error(fmt::format("{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} unused "
                              "bytes before it (tensors must be contiguous)",
                              source, t->name, t->begin, t->end, t->begin - expected));
    }
    expected = t->end;
    previous = t;
  }
  if (expected != header.data_size) {
    if (expected > header.data_size) {
      throw Error(fmt::format("{}: tensor '{}': data_offsets end at {} but the data buffer has "
                              "only {} bytes (truncated file?)",
                              source, previous->name, expected, header.data_size));
    }
    throw Error(fmt::format("{}: the tensors cover {} bytes but the data buffer has {} (trailing "
                            "bytes not covered by any tensor)",
                            source, expected, header.data_size));
  }
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  auto mapping = map_file(path);
  return parse_safetensors_header(static_cast<const uint8_t*>(mapping->data), mapping->size, path);
}

TensorFile load_safetensors(const std::string& path) {
  auto mapping = map_file(path);
  auto* base = static_cast<uint8_t*>(mapping->data);
  const SafetensorsHeader header = parse_safetensors_header(base, mapping->size, path);
  uint8_t* buffer = base + 8 + header.header_size;

  TensorFile file;
  file.metadata = header.metadata;
  for (const TensorInfo& info : header.tensors) {
    const auto options = torch::TensorOptions().dtype(info.dtype);
    const size_t elem = find_dtype(info.dtype).size;
    uint8_t* ptr = buffer + info.begin;
    torch::Tensor t;
    if (info.end == info.begin) {
      t = torch::empty(info.shape, options);
    } else if (reinterpret_cast<uintptr_t>(ptr) % elem == 0) {
      // Alias the mapping; the deleter keeps it alive as long as the tensor.
      t = torch::from_blob(ptr, info.shape, [mapping](void*) {}, options);
    } else {
      t = torch::empty(info.shape, options);
      std::memcpy(t.data_ptr(), ptr, info.end - info.begin);
    }
    file.tensors.emplace_back(info.name, std::move(t));
  }
  return file;
}

TensorFile load_sharded_safetensors(const std::string& index_path) {
  const Json index = read_json_file(index_path);
  VDM_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            "{}: a sharded checkpoint index must be a JSON object with a \"weight_map\" object",
            index_path);
  std::error_code folder_ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(fs::path(index_path)).parent_path(), folder_ec);
  VDM_CHECK(!folder_ec, "{}: cannot resolve its folder: {}", index_path, folder_ec.message());

  // shard file -> names the index maps to it, in index order
  std::vector<std::string> shard_order;
  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    VDM_CHECK(shard.is_string(), "{}: weight_map['{}'] must be a file name string, found {}",
              index_path, name, shard.dump());
    const std::string file = shard.get<std::string>();
    const fs::path rel(file);
    std::error_code ec;  // the throwing overload would escape as std::filesystem_error
    const fs::path resolved = fs::weakly_canonical(folder / rel, ec);
    VDM_CHECK(!ec, "{}: shard '{}' of tensor '{}' is not a usable file name: {}", index_path, file, name,
              ec.message());
    const auto [mismatch, unused] =
        std::mismatch(folder.begin(), folder.end(), resolved.begin(), resolved.end());
    VDM_CHECK(!file.empty() && !rel.is_absolute() && mismatch == folder.end(),
              "{}: shard '{}' of tensor '{}' leaves the checkpoint's folder {} (shard paths must "
              "stay inside it)",
              index_path, file, name, folder.string());
    if (!names_by_shard.count(file)) shard_order.push_back(file);
    names_by_shard[file].push_back(name);
  }

  TensorFile result;
  std::map<std::string, torch::Tensor> all;
  for (const std::string& shard : shard_order) {
    const std::string path = (folder / shard).string();
    TensorFile part;
    try {
      part = load_safetensors(path);
    } catch (const Error& e) {  // name the index that sent the reader there
      throw Error(fmt::format("{}: shard '{}': {}", index_path, shard, e.what()));
    }
    const auto& wanted = names_by_shard[shard];
    const std::set<std::string> wanted_set(wanted.begin(), wanted.end());
    for (auto& [name, tensor] : part.tensors) {
      VDM_CHECK(wanted_set.count(name), "{}: shard '{}' holds tensor '{}', which the index does "
                                        "not map to it",
                index_path, shard, name);
      all[name] = tensor;
    }
    for (const auto& name : wanted) {
      VDM_CHECK(part.contains(name), "{}: the index maps tensor '{}' to shard '{}', which does "
                                     "not hold it",
                index_path, name, shard);
    }
    for (const auto& [k, v] : part.metadata) result.metadata[k] = v;
  }
  for (const auto& [name, shard] : index["weight_map"].items()) {
    result.tensors.emplace_back(name, all.at(name));
  }
  return result;
}

namespace {

// The header text (padded) and the tensors in file order, contiguous on the CPU.
struct Layout {
  std::string header;  // u64 length + JSON + padding
  std::vector<torch::Tensor> data;
};

Layout layout_safetensors(const TensorList& tensors, const Metadata& metadata) {
  // Order as the reference writer does (dtype rank descending, then name), which also keeps
  // every tensor aligned to its element size when the header is padded to 8 bytes.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    VDM_CHECK(seen.insert(name).second, "cannot save: duplicate tensor name '{}'", name);
    VDM_CHECK(name != "__metadata__", "cannot save: '__metadata__' is reserved");
    VDM_CHECK(t.defined(), "cannot save: tensor '{}' is undefined", name);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int ra = find_dtype(tensors[a].second.scalar_type()).rank;
    const int rb = find_dtype(tensors[b].second.scalar_type()).rank;
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });

  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  Layout layout;
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, tensor] = tensors[i];
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    Json entry = Json::object();
    entry["dtype"] = find_dtype(t.scalar_type()).name;
    entry["shape"] = t.sizes().vec();
    entry["data_offsets"] = {offset, offset + bytes};
    header[name] = entry;
    offset += bytes;
    layout.data.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the buffer starts 8-aligned
  const uint64_t n = text.size();
  layout.header.assign(reinterpret_cast<const char*>(&n), 8);
  layout.header += text;
  return layout;
}

const char* bytes_of(const torch::Tensor& t) { return static_cast<const char*>(t.data_ptr()); }
size_t size_of(const torch::Tensor& t) { return t.numel() * t.element_size(); }

}  // namespace

std::string serialize_safetensors(const TensorList& tensors, const Metadata& metadata) {
  Layout layout = layout_safetensors(tensors, metadata);
  std::string out = std::move(layout.header);
  for (const auto& t : layout.data) out.append(bytes_of(t), size_of(t));
  return out;
}

void save_safetensors(const std::string& path, const TensorList& tensors,
                      const Metadata& metadata) {
  const Layout layout = layout_safetensors(tensors, metadata);
  // Streamed tensor by tensor: a large checkpoint is never copied into one buffer.
  write_file_atomic_with(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    VDM_CHECK(f != nullptr, "cannot write '{}': {}", path, std::strerror(errno));
    bool ok = std::fwrite(layout.header.data(), 1, layout.header.size(), f) == layout.header.size();
    for (const auto& t : layout.data) {
      if (ok && size_of(t) > 0) ok = std::fwrite(bytes_of(t), 1, size_of(t), f) == size_of(t);
    }
    const int saved_errno = errno;
    ok = (std::fflush(f) == 0) && ok;
    ok = (::fsync(fileno(f)) == 0) && ok;
    ok = (std::fclose(f) == 0) && ok;
    VDM_CHECK(ok, "cannot write '{}': {} (previous file kept)", path,
              std::strerror(errno ? errno : saved_errno));
  });
}

}  // namespace vdm::io
