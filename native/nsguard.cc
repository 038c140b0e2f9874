#include "nsguard.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

namespace twine {

namespace {
// /proc/self follows the main thread; the thread's own view is thread-self.
constexpr const char* kSelfNs = "/proc/thread-self/ns/net";
}  // namespace

ino_t NsGuard::CurrentInode() {
  struct stat st;
  if (stat(kSelfNs, &st) != 0) return 0;
  return st.st_ino;
}

NsGuard::NsGuard() {
  home_fd_ = open(kSelfNs, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (home_fd_ >= 0 && fstat(home_fd_, &st) == 0) home_ino_ = st.st_ino;
}

NsGuard::~NsGuard() {
  if (home_fd_ >= 0) close(home_fd_);
}

bool NsGuard::Run(const Target& target, Failure& f, const std::function<void()>& work) {
  if (target.home) {
    // Nothing to enter; the check is the same as after any operation.
    work();
    return CurrentInode() == home_ino_;
  }
  if (target.fd >= 0) {
    // The caller's handle: entered as it is (setns refuses anything but a
    // network namespace), and left open for the caller to close.
    if (setns(target.fd, CLONE_NEWNET) != 0) {
      int e = errno;
      f.Set(e, "setns", e == EBADF ? "namespace handle is closed" : e == EINVAL ? "not a network namespace" : "cannot enter namespace");
      return CurrentInode() == home_ino_;
    }
    return Enter(work);
  }
  const std::string file = target.File();
  // Only namespace files (nsfs shows them as regular files) are opened: a
  // FIFO or device path must not block or trigger anything.
  struct stat st;
  if (stat(file.c_str(), &st) != 0) {
    f.Set(errno, "open", target.byPid ? "no such process" : "cannot open namespace file");
    return true;
  }
  if (!S_ISREG(st.st_mode)) {
    f.Set(EINVAL, "open", "not a network namespace file");
    return true;
  }
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    f.Set(errno, "open", target.byPid ? "no such process" : "cannot open namespace file");
    return true;
  }
  if (setns(fd, CLONE_NEWNET) != 0) {
    int e = errno;
    close(fd);
    f.Set(e, "setns", e == EINVAL ? "not a network namespace" : "cannot enter namespace");
    // A failed setns changes nothing, but check rather than trust.
    return CurrentInode() == home_ino_;
  }
  close(fd);
  return Enter(work);
}

bool NsGuard::Enter(const std::function<void()>& work) {
  work();

  if (setns(home_fd_, CLONE_NEWNET) != 0 || CurrentInode() != home_ino_) {
    // The operation itself is reported as it went; the pool retires this thread.
    return false;
  }
  return true;
}

}  // namespace twine
