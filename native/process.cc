// Exports about the process rather than a namespace: version, pool figures,
// malloc_trim and a precise wall clock.
#include <malloc.h>
#include <time.h>

#include "exports.h"
#ifdef TWINE_HAVE_NFT
#include "nft.h"
#endif

namespace twine {

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "twine-native 0.2"); }

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool& pool = PoolOf(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", Napi::Number::New(env, pool.size()));
  o.Set("retired", Napi::Number::New(env, pool.retired()));
  o.Set("homeInode", Napi::Number::New(env, static_cast<double>(pool.home_inode())));
#ifdef TWINE_HAVE_NFT
  o.Set("nftContextsHeld", Napi::Number::New(env, static_cast<double>(NftContextsHeld())));
#endif
  return o;
}

// Hands memory that freed allocations left in glibc's arenas back to the kernel.
// libnftables contexts and netlink buffers are allocated and freed on the worker
// threads; glibc keeps what they freed in per-thread arenas until told otherwise,
// which after a few thousand transactions is tens of MB of resident memory.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

// CLOCK_REALTIME in ms with the fraction: Docker stamps events with it, and
// V8's Date.now() is whole (and unevenly ticking) milliseconds.
Napi::Value RealtimeMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

}  // namespace twine
