// Run-time choices made once per process and passed down: threads, device, dtype.
// LibTorch starts with one intra-op thread; vdm uses every core unless told otherwise.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace vdm {

// Sets LibTorch's intra-op threads; n <= 0 means every core the process may use.
// Returns the number set.
int set_threads(int n);

// Makes the C heap keep memory it has freed, for reuse, instead of handing it back to the
// kernel. LibTorch allocates each activation afresh, and a ModelScope-sized U-Net's are tens of
// megabytes; glibc serves such blocks with a fresh mmap whose every page faults in on first
// touch and unmaps them on free, so the next layer faults them in again (16 of the 100 CPU
// seconds of a full-size forward went to the kernel; bench/ measured it). With this, large
// blocks come from the heap (no mmap) and the heap is never trimmed: the process keeps its
// peak footprint until it exits. Call it once, first thing in main(); the CLI and the
// benchmarks do. Returns false where the C library has no such controls (non-glibc).
bool configure_allocator();

// How many threads vdm's own parallel loops (at::parallel_for in its sources: CPU attention,
// GEGLU, data rendering) actually run on: LibTorch's thread count when vdm was compiled with
// OpenMP (GCC builds), 1 when it was not (those loops then run on the calling thread;
// LibTorch's own operators are threaded either way).
int parallel_loop_threads();

// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

// "cpu", "cuda", "cuda:N" or "auto" (cuda when available, else cpu). Throws vdm::Error
// naming the accepted values, or saying that CUDA is not available in this build/machine.
torch::Device parse_device(const std::string& name);

// "f32", "bf16" or "f16" (also "float32", "bfloat16", "float16"). Throws when the device
// cannot compute in that type: bf16 on a CPU needs AVX512-BF16 or AMX, f16 needs CUDA.
torch::Dtype parse_dtype(const std::string& name, const torch::Device& device);

// CPU features read from /proc/cpuinfo flags (e.g. "avx512_bf16", "amx_bf16").
bool cpu_has_flag(const std::string& flag);
bool cpu_supports_bf16();

// Shared libraries loaded into this process whose file name contains `needle`
// (resolved through symlinks), from /proc/self/maps.
std::vector<std::string> loaded_libraries(const std::string& needle);

// The BLAS that LibTorch's matrix products go through, as a short name:
// "openblas", "mkl", "reference" (Debian's netlib libblas), or "unknown".
std::string blas_implementation();

// Name of a dtype as vdm writes it ("f32", "bf16", ...).
std::string dtype_name(torch::Dtype dtype);

}  // namespace vdm
