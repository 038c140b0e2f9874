#include "job.h"

#include <string.h>

#include <new>

namespace twine {

std::string Target::File() const {
  if (home) return "(home)";
  if (fd >= 0) return "/proc/self/fd/" + std::to_string(fd);
  return byPid ? "/proc/" + std::to_string(pid) + "/ns/net" : path;
}

Target Target::Home() {
  Target t;
  t.home = true;
  return t;
}

std::string Target::Describe() const {
  if (home) return "the daemon's namespace";
  if (fd >= 0) return name.empty() ? "fd " + std::to_string(fd) : name;
  return byPid ? "pid " + std::to_string(pid) : path;
}

std::string ErrnoCode(int err) {
  if (err == Failure::kErrNft) return "ENFT";
  if (err == Failure::kErrLimit) return "ELIMIT";
  const char* name = strerrorname_np(err);
  return name ? name : "E" + std::to_string(err);
}

namespace {

std::string MessageOf(const std::string& op, const std::string& ns, const Failure& f) {
  std::string text = op + " in " + ns + ": ";
  if (f.err == Failure::kErrNft || f.err == Failure::kErrLimit) return text + f.message;
  if (!f.message.empty()) text += f.message + ": ";
  text += strerror(f.err);
  if (!f.kernelMessage.empty()) text += " (" + f.kernelMessage + ")";
  return text;
}

void Decorate(Napi::Error& e, Napi::Env env, const std::string& op, const std::string& ns, const Failure& f) {
  e.Set("code", Napi::String::New(env, ErrnoCode(f.err)));
  e.Set("errno", Napi::Number::New(env, f.err < 0 ? 0 : f.err));
  e.Set("op", Napi::String::New(env, op));
  e.Set("ns", Napi::String::New(env, ns));
  e.Set("stage", Napi::String::New(env, f.stage));
  if (!f.kernelMessage.empty()) e.Set("kernelMessage", Napi::String::New(env, f.kernelMessage));
  if (f.err == Failure::kErrNft) e.Set("nftMessage", Napi::String::New(env, f.message));
}

}  // namespace

Napi::Error MakeError(Napi::Env env, const std::string& op, const std::string& ns, const Failure& f) {
  Napi::Error e = Napi::Error::New(env, MessageOf(op, ns, f));
  Decorate(e, env, op, ns, f);
  return e;
}

void ThrowInvalid(Napi::Env env, const std::string& op, const std::string& what) {
  Failure f;
  f.Set(EINVAL, "arguments", what);
  const std::string ns = "(not entered)";
  Napi::TypeError e = Napi::TypeError::New(env, MessageOf(op, ns, f));
  Decorate(e, env, op, ns, f);
  throw e;
}

void Job::Run() noexcept {
  try {
    Execute();
  } catch (const std::bad_alloc&) {
    failure_.Set(ENOMEM, "internal", "out of memory");
  } catch (const std::exception& e) {
    // A std::string can itself throw here; then the generic text is used.
    try {
      failure_.Set(EIO, "internal", e.what());
    } catch (...) {
      failure_.Set(EIO, "internal");
    }
  } catch (...) {
    failure_.Set(EIO, "internal", "unexpected exception");
  }
}

void Job::Settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (failure_.failed()) {
    deferred_.Reject(MakeError(env, op_, target_.Describe(), failure_).Value());
    return;
  }
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const std::bad_alloc&) {
    // Building the result ran out of memory (a huge dump): the promise still settles.
    Failure f;
    f.Set(ENOMEM, "internal", "out of memory");
    deferred_.Reject(MakeError(env, op_, target_.Describe(), f).Value());
  }
}

}  // namespace twine
