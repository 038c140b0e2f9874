// rootFileRead: a small file inside a container, read through the container's
// root as the host's /proc shows it (/proc/<pid>/root). The path is resolved
// by the kernel with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from that
// root: a symlink whose target is absolute or climbs above the root cannot be
// followed (EXDEV), so a label can never make Twine read a file of the host or
// of another container, whatever the container puts on the path meanwhile. The
// file must be a regular file and at most maxBytes long; it is opened
// non-blocking, so a FIFO planted on the path cannot hold the worker.
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "exports.h"
#include "fd_read.h"

namespace twine {

namespace {

constexpr const char* kOp = "rootFileRead";
constexpr double kMaxPid = 4194304;
constexpr uint32_t kMaxPathBytes = 4096;
constexpr uint32_t kMaxReadBytes = 1 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

class RootFileJob : public Job {
 public:
  RootFileJob(Napi::Env env, int pid, std::string path, uint32_t max)
      : Job(env, kOp, Target::Home()), pid_(pid), path_(std::move(path)), max_(max) {}

  void Execute() override {
    char root[48];
    snprintf(root, sizeof root, "/proc/%d/root", pid_);
    Fd dir(open(root, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) return Answer(errno == ENOENT || errno == ESRCH ? "gone" : "error", errno);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
      fd = static_cast<int>(syscall(SYS_openat2, dir.get(), path_.c_str(), &how, sizeof how));
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT || e == ENOTDIR) return Answer("missing", e);
      if (e == EXDEV || e == ELOOP) return Answer("escape", e);
      return Answer("error", e);
    }
    Fd file(fd);
    struct stat st;
    if (fstat(file.get(), &st) != 0) return Answer("error", errno);
    if (!S_ISREG(st.st_mode)) return Answer("notFile", 0);
    if (st.st_size > static_cast<off_t>(max_)) return Answer("tooBig", 0, static_cast<double>(st.st_size));
    // One byte more than allowed tells a file that grew since fstat.
    std::vector<char> buf(static_cast<size_t>(max_) + 1);
    ssize_t got = ReadUpTo(file.get(), buf.data(), buf.size());
    if (got < 0) return Answer("error", errno);
    size_t total = static_cast<size_t>(got);
    if (total > max_) return Answer("tooBig", 0, static_cast<double>(total));
    data_.assign(buf.data(), total);
    Answer("ok", 0, static_cast<double>(total));
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", status_);
    o.Set("errno", Napi::Number::New(env, errno_));
    o.Set("size", Napi::Number::New(env, size_));
    if (status_ == "ok") o.Set("data", Napi::String::New(env, data_.data(), data_.size()));
    return o;
  }

 private:
  void Answer(const char* status, int err, double size = 0) {
    status_ = status;
    errno_ = err;
    size_ = size;
  }

  int pid_;
  std::string path_;
  uint32_t max_;
  std::string status_;
  int errno_ = 0;
  double size_ = 0;
  std::string data_;
};

}  // namespace

// rootFileRead(pid, path, maxBytes) → Promise<{status, errno, size, data?}>:
// status "ok" (data: the bytes, as latin1-safe UTF-8), "missing", "escape"
// (a symlink leaves the root), "notFile", "tooBig", "gone" (no such process)
// or "error" (errno). `path` is relative to the container's root (no leading
// '/'); arguments of the wrong type or range throw.
Napi::Value RootFileRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) ThrowInvalid(env, kOp, "expects (pid: number, path: string, maxBytes: number)");
  double pid = info[0].As<Napi::Number>().DoubleValue();
  if (!(pid >= 1 && pid <= kMaxPid && std::floor(pid) == pid)) ThrowInvalid(env, kOp, "pid out of range");
  double max = info[2].As<Napi::Number>().DoubleValue();
  if (!(max >= 1 && max <= kMaxReadBytes && std::floor(max) == max)) ThrowInvalid(env, kOp, "maxBytes out of range");
  size_t len = 0;
  if (napi_get_value_string_utf8(env, info[1], nullptr, 0, &len) != napi_ok) ThrowInvalid(env, kOp, "path cannot be read");
  if (len == 0 || len > kMaxPathBytes) ThrowInvalid(env, kOp, "path is empty or too long");
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos || path[0] == '/') ThrowInvalid(env, kOp, "path must be relative to the container's root");
  return Submit(env, new RootFileJob(env, static_cast<int>(pid), std::move(path), static_cast<uint32_t>(max)));
}

}  // namespace twine
