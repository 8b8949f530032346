// Files that are replaced whole or not at all, and files read under a size bound.
//
// writeFileAtomically() is how Tendril stores anything that must survive a crash (checkpoints
// first of all): the bytes go to a new temporary file beside the target, which is flushed to
// the disk, renamed over the target, and then the directory itself is flushed. A reader sees
// either the old file or the complete new one, never a mix, whatever moment a crash or power
// cut hits; a failed write leaves the old file as it was.
//
// POSIX only (open, fsync, rename). Thread safety: both functions are reentrant. Two writers of
// the same path do not disturb each other's temporary files; the last rename wins.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "common/status.h"

namespace tendril::data {

// Replaces `path` with what `write` puts into the stream it is given.
//
// Steps: create a temporary file in the directory of `path`, named
// ".<name>.tmp-<pid>-<sequence>-<clock>" and opened with O_CREAT | O_EXCL (mode 0644, less the
// process umask); run `write` on a buffered stream over it; flush and fsync the file; close it;
// rename it over `path`; fsync the directory.
//
// On any failure before the rename (`write` returning an error or throwing, the stream failing,
// a full disk, fsync or close failing, the rename failing) the temporary file is removed and an
// existing file at `path` is left untouched. Returns `write`'s own error when it fails; Io for
// a failure of the operating system (the message names the file and the system's reason);
// Internal when `write` throws; InvalidArgument when `path` names no file. No exception escapes.
//
// A failure to fsync the directory after the rename is reported as Io too: the new file is then
// in place, but it might not survive a power cut.
Status writeFileAtomically(const std::filesystem::path& path,
                           const std::function<Status(std::ostream&)>& write);

// Reads a whole file of at most `max_bytes` bytes. The bound holds for the bytes actually read,
// so a file that grows while it is read, or a pipe, cannot exceed it either.
// Errors: NotFound when the file does not exist; ResourceExhausted when it holds more than
// `max_bytes`; Io for every other failure. Messages start with the path.
Result<std::string> readFileBounded(const std::filesystem::path& path, uint64_t max_bytes);

}  // namespace tendril::data
