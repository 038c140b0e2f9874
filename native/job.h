// What a unit of work looks like: a target namespace, an operation run inside
// it on a worker thread, and a promise settled on the main thread.
#pragma once

#include <napi.h>

#include <string>

namespace twine {

// The namespace an operation runs in: a process's (/proc/<pid>/ns/net), a
// path to a namespace file (/var/run/netns/<name>), or a namespace file the
// caller holds open (fd >= 0): entered as it is, never looked up again, so a
// process that dies and whose pid is reused cannot redirect the operation.
// The caller keeps that fd open until the operation settles. With `home`, no
// namespace is entered: the operation runs where the worker lives (the
// daemon's own namespace), for reads that need no namespace but should not
// block the main thread (reads of the host's /proc).
struct Target {
  bool home = false;
  bool byPid = false;
  int pid = 0;
  int fd = -1;
  std::string path;
  // With fd: how errors name the namespace (e.g. "pid 42"); "fd N" when empty.
  std::string name;

  // The file to open, e.g. "/proc/42/ns/net"; for an fd or home, the key the
  // pool orders operations by ("/proc/self/fd/N", "(home)"), never opened.
  std::string File() const;
  // How errors name it: "pid 42", "/var/run/netns/x" or "the daemon's namespace".
  std::string Describe() const;
  // The daemon's own namespace: a job that enters none.
  static Target Home();
};

// Why an operation failed. err is an errno value, or kErrNft for an nft
// refusal (message then carries nft's text).
struct Failure {
  static constexpr int kErrNft = -1;
  // A read of the namespace went over what one read may take (ReadLimits, ./rtnl.h):
  // the namespace holds more than Twine ever writes; code "ELIMIT".
  static constexpr int kErrLimit = -2;
  int err = 0;
  std::string stage;          // "open", "setns", "netlink", "sysctl", "nft", "restore"
  std::string kernelMessage;  // the netlink extended ack text, if any
  std::string message;        // extra detail for the JS message
  bool failed() const { return err != 0; }
  void Set(int e, const char* st, std::string msg = {}) {
    err = e;
    stage = st;
    message = std::move(msg);
  }
};

class Job {
 public:
  Job(Napi::Env env, std::string op, Target target)
      : deferred_(Napi::Promise::Deferred::New(env)), op_(std::move(op)), target_(std::move(target)) {}
  virtual ~Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Runs on a worker thread, inside the target namespace. Reports problems
  // through failure(); may throw (bad_alloc...), which Run turns into a failure.
  virtual void Execute() = 0;
  // What workers call: Execute with a catch-all, so the thread always gets
  // back to restoring its namespace and no exception ends the process.
  void Run() noexcept;
  // Runs on the main thread after a successful Execute().
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  Napi::Promise Promise() const { return deferred_.Promise(); }
  // Settles the promise; main thread only.
  void Settle(Napi::Env env);

  const Target& target() const { return target_; }
  const std::string& op() const { return op_; }
  Failure& failure() { return failure_; }

 private:
  Napi::Promise::Deferred deferred_;
  std::string op_;
  Target target_;
  Failure failure_;
};

// errno → "ENOENT" etc.
std::string ErrnoCode(int err);
// Builds the JS Error described in ARCHITECTURE.md, "The native addon" (code, errno, op, ns, kernelMessage).
Napi::Error MakeError(Napi::Env env, const std::string& op, const std::string& ns, const Failure& f);
// Throws a synchronous TypeError, code EINVAL, stage "arguments", for a bad
// argument (main thread), before anything is queued.
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& op, const std::string& what);

}  // namespace twine
