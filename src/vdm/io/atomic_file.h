// Crash-safe file writes: write to a temporary file in the destination's folder, fsync it,
// rename it over the destination, fsync the folder. A reader sees the old file or the new
// one, never a torn one; a failed write (full disk, missing folder) leaves the old one intact.
#pragma once
#include <functional>
#include <string>

namespace vdm::io {

// Writes `bytes` to `path` atomically. Throws vdm::Error naming the path and the failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Calls `write(tmp_path)` to produce the temporary file, then fsyncs and renames it over
// `path`. For writers that need a file name (e.g. FFmpeg muxers). The temporary is removed if
// `write` throws.
void write_file_atomic_with(const std::string& path,
                            const std::function<void(const std::string& tmp_path)>& write);

}  // namespace vdm::io
