#include "vdm/core/runtime.h"

#include <sched.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <ATen/Parallel.h>

#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "vdm/core/error.h"

namespace vdm {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

bool configure_allocator() {
#if defined(__GLIBC__)
  // M_MMAP_MAX 0: no block is served by mmap (large ones come from the heap and are reused);
  // M_TRIM_THRESHOLD -1: never give the heap's free top back (the next step needs it again).
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, -1) == 1;
  return no_mmap && no_trim;
#else
  return false;
#endif
}

int parallel_loop_threads() {
  // One chunk per thread, each naming the thread it ran on. at::parallel_for is inlined here,
  // so this measures how this library was compiled, not how LibTorch was.
  const int64_t threads = at::get_num_threads();
  std::mutex mutex;
  std::set<int> seen;
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    const std::lock_guard<std::mutex> lock(mutex);
    seen.insert(at::get_thread_num());
  });
  return static_cast<int>(seen.size());
}

int set_threads(int n) {
  const int threads = n > 0 ? n : available_cores();
  torch::set_num_threads(threads);
  return threads;
}

torch::Device parse_device(const std::string& name) {
  if (name == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    VDM_CHECK(torch::cuda::is_available(),
              "device '{}': CUDA is not available (this build of LibTorch {} has no CUDA, or no "
              "GPU is visible); use --device cpu",
              name, TORCH_VERSION);
    if (name == "cuda") return torch::Device(torch::kCUDA, 0);
    int index = -1;
    try {
      size_t used = 0;
      index = std::stoi(name.substr(5), &used);
      if (used != name.size() - 5) index = -1;
    } catch (const std::exception&) {
      index = -1;
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    VDM_CHECK(index >= 0 && index < count, "device '{}': expected cuda:N with N in [0, {})", name,
              count);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(fmt::format("unknown device '{}'; expected one of: auto, cpu, cuda, cuda:N", name));
}

bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w)
      if (w == flag) return true;
    return false;  // the first CPU's flags are representative
  }
  return false;
}

bool cpu_supports_bf16() { return cpu_has_flag("avx512_bf16") || cpu_has_flag("amx_bf16"); }

torch::Dtype parse_dtype(const std::string& name, const torch::Device& device) {
  if (name == "f32" || name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bf16" || name == "bfloat16") {
    VDM_CHECK(device.is_cuda() || cpu_supports_bf16(),
              "dtype bf16 needs a GPU or a CPU with AVX512-BF16 or AMX; this CPU has neither "
              "(use --dtype f32)");
    return torch::kBFloat16;
  }
  if (name == "f16" || name == "float16" || name == "fp16") {
    VDM_CHECK(device.is_cuda(),
              "dtype f16 runs on CUDA devices only (device is {}); use --dtype f32 or bf16",
              device.str());
    return torch::kFloat16;
  }
  throw Error(fmt::format("unknown dtype '{}'; expected one of: f32, bf16, f16", name));
}

std::vector<std::string> loaded_libraries(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> found;
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = path.substr(path.rfind('/') + 1);
    if (file.find(needle) != std::string::npos) found.insert(path);
  }
  return {found.begin(), found.end()};
}

std::string blas_implementation() {
  // /proc/self/maps shows resolved paths: the alternatives symlink is already followed.
  bool reference = false;
  for (const auto& lib : loaded_libraries("blas")) {
    if (lib.find("openblas") != std::string::npos) return "openblas";
    if (lib.find("/blas/libblas") != std::string::npos) reference = true;
  }
  if (!loaded_libraries("libmkl").empty()) return "mkl";
  return reference ? "reference" : "unknown";
}

std::string dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return "f32";
    case torch::kFloat64: return "f64";
    case torch::kFloat16: return "f16";
    case torch::kBFloat16: return "bf16";
    case torch::kInt64: return "i64";
    case torch::kInt32: return "i32";
    case torch::kInt16: return "i16";
    case torch::kInt8: return "i8";
    case torch::kUInt8: return "u8";
    case torch::kBool: return "bool";
    default: return std::string(c10::toString(dtype));
  }
}

}  // namespace vdm
