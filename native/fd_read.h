// Reading a file descriptor into a bounded buffer.
#pragma once

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>

namespace twine {

// Reads fd until n bytes are in buf or the file ends (EINTR is retried): how
// many bytes, or -1 with errno set by the read that failed.
inline ssize_t ReadUpTo(int fd, char* buf, size_t n) {
  size_t total = 0;
  while (total < n) {
    ssize_t r = read(fd, buf + total, n - total);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    total += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(total);
}

}  // namespace twine
