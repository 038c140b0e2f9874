// pidCheck: for each (pid, container id) pair, whether the process's cgroup
// names the container and, if so, the inode of its network namespace. A full
// re-sync vouches for every cached pid this way (src/docker/inspect-cache.ts);
// with 1000 containers, 2000 /proc reads on the main thread became one job on
// a worker. It reads the host's /proc (the daemon's pid view), so it enters no
// namespace (a home target).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <vector>

#include "exports.h"
#include "fd_read.h"

namespace twine {

namespace {

constexpr const char* kOp = "pidCheck";
// More pairs than any host runs containers.
constexpr uint32_t kMaxPairs = 1u << 20;
// PID_MAX_LIMIT on 64-bit Linux: no pid is larger.
constexpr double kMaxPid = 4194304;
// A container id as Docker prints it: 12 (short) to 64 lowercase hex digits.
constexpr size_t kMinIdBytes = 12;
constexpr size_t kMaxIdBytes = 64;
// How much of /proc/<pid>/cgroup is read. A line per hierarchy (one on
// cgroup v2, about a dozen on v1), each a path of at most PATH_MAX: Docker's
// paths are under 100 bytes. An id that shows only beyond this is not found:
// the pair reads "not the container's" and the caller asks Docker instead.
constexpr size_t kMaxCgroupBytes = 64 * 1024;

// The answers, one per pair (as the Float64Array holds them).
constexpr double kNotIts = 0;  // the cgroup does not name the id, or the id is not an id
constexpr double kGone = -1;   // no such process (its /proc files cannot be read)

struct Pair {
  int pid = 0;          // 0: not a possible pid
  size_t idLen = 0;     // 0: not an id
  char id[kMaxIdBytes];
};

bool IsHex(const char* s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Up to buf.size() bytes of path; -1 when it cannot be opened or read.
ssize_t ReadBounded(const char* path, std::vector<char>& buf) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -1;
  ssize_t n = ReadUpTo(fd, buf.data(), buf.size());
  close(fd);
  return n;
}

class PidCheckJob : public Job {
 public:
  PidCheckJob(Napi::Env env, std::vector<Pair> pairs) : Job(env, kOp, Target::Home()), pairs_(std::move(pairs)) {}

  void Execute() override {
    std::vector<char> buf(kMaxCgroupBytes);
    out_.resize(pairs_.size());
    for (size_t i = 0; i < pairs_.size(); i++) out_[i] = Check(pairs_[i], buf);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Float64Array a = Napi::Float64Array::New(env, out_.size());
    if (!out_.empty()) memcpy(a.Data(), out_.data(), out_.size() * sizeof(double));
    return a;
  }

 private:
  static double Check(const Pair& p, std::vector<char>& buf) {
    if (p.idLen == 0) return kNotIts;
    if (p.pid == 0) return kGone;
    char path[48];
    snprintf(path, sizeof path, "/proc/%d/cgroup", p.pid);
    ssize_t n = ReadBounded(path, buf);
    if (n < 0) return kGone;
    if (!memmem(buf.data(), static_cast<size_t>(n), p.id, p.idLen)) return kNotIts;
    snprintf(path, sizeof path, "/proc/%d/ns/net", p.pid);
    struct stat st;
    if (stat(path, &st) != 0) return kGone;
    return static_cast<double>(st.st_ino);
  }

  std::vector<Pair> pairs_;
  std::vector<double> out_;
};

}  // namespace

// pidCheck(pids: number[], ids: string[]) → Promise<Float64Array>: per pair,
// the namespace inode, kNotIts or kGone. Arrays of other types, or of
// different lengths, throw; a value that cannot be a pid or an id is an
// answer (gone / not its), not an error, since cached entries come from a file.
Napi::Value PidCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsArray()) ThrowInvalid(env, kOp, "pids and ids must be arrays");
  Napi::Array pids = info[0].As<Napi::Array>();
  Napi::Array ids = info[1].As<Napi::Array>();
  uint32_t n = pids.Length();
  if (ids.Length() != n) ThrowInvalid(env, kOp, "pids and ids differ in length");
  if (n > kMaxPairs) ThrowInvalid(env, kOp, "more than " + std::to_string(kMaxPairs) + " pairs");
  std::vector<Pair> pairs(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value pv = pids.Get(i);
    Napi::Value iv = ids.Get(i);
    if (!pv.IsNumber()) ThrowInvalid(env, kOp, "pids[" + std::to_string(i) + "] is not a number");
    if (!iv.IsString()) ThrowInvalid(env, kOp, "ids[" + std::to_string(i) + "] is not a string");
    double d = pv.As<Napi::Number>().DoubleValue();
    if (d >= 1 && d <= kMaxPid && std::floor(d) == d) pairs[i].pid = static_cast<int>(d);
    // The length first, so a huge string is neither copied nor allocated for.
    size_t len = 0;
    if (napi_get_value_string_utf8(env, iv, nullptr, 0, &len) != napi_ok) ThrowInvalid(env, kOp, "ids[" + std::to_string(i) + "] cannot be read");
    if (len < kMinIdBytes || len > kMaxIdBytes) continue;
    char tmp[kMaxIdBytes + 1];
    size_t copied = 0;
    if (napi_get_value_string_utf8(env, iv, tmp, sizeof tmp, &copied) != napi_ok || copied != len) continue;
    if (!IsHex(tmp, len)) continue;
    memcpy(pairs[i].id, tmp, len);
    pairs[i].idLen = len;
  }
  return Submit(env, new PidCheckJob(env, std::move(pairs)));
}

}  // namespace twine
