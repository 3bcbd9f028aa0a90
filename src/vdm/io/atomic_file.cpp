#include "vdm/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "vdm/core/error.h"

namespace vdm::io {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// A unique sibling of `path`: same folder (so rename is atomic), hidden, random suffix.
std::string temp_sibling(const std::string& path) {
  const fs::path p(path);
  std::random_device rd;
  const auto name = fmt::format(".{}.tmp-{:08x}", p.filename().string(), rd());
  return (p.parent_path() / name).string();
}

void check_parent_folder(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw Error(fmt::format("cannot write '{}': folder '{}' does not exist", path, parent.string()));
  }
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort for folders (some filesystems refuse)
  ::fsync(fd);
  ::close(fd);
}

void commit(const std::string& tmp, const std::string& path) {
  fsync_path(tmp, O_RDONLY);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot write '{}': rename from temporary file failed: {}", path, why));
  }
  const fs::path parent = fs::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  check_parent_folder(path);
  const std::string tmp = temp_sibling(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot write '{}': {}", path, errno_text()));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? errno_text() : "no progress";
      ::close(fd);
      std::remove(tmp.c_str());
      throw Error(fmt::format("cannot write '{}': {} after {} of {} bytes (previous file kept)",
                              path, why, written, bytes.size()));
    }
    written += static_cast<size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at empty data.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot write '{}': {} (previous file kept)", path, why));
  }
  commit(tmp, path);
}

void write_file_atomic_with(const std::string& path,
                            const std::function<void(const std::string& tmp_path)>& write) {
  check_parent_folder(path);
  const std::string tmp = temp_sibling(path);
  try {
    write(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  commit(tmp, path);
}

}  // namespace vdm::io
