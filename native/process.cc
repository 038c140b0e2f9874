// Exports about the process rather than a namespace: version, pool figures,
// malloc_trim, V8's heap compaction and a precise wall clock.
#include <malloc.h>
#include <time.h>
#include <v8.h>

#include "args.h"
#include "exports.h"
#include "rtnl.h"
#include "sysctl.h"
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
  o.Set("sysctlNetconfReads", Napi::Number::New(env, static_cast<double>(SysctlNetconfReads())));
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

Napi::Value SetReadLimitsFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t messages = ParseU32(env, "setReadLimits", "messages", info[0], 1u << 22);
  uint32_t table = ParseU32(env, "setReadLimits", "tableMessages", info[1], 1u << 22);
  SetReadLimits(messages, table);
  Napi::Object o = Napi::Object::New(env);
  o.Set("messages", Napi::Number::New(env, static_cast<double>(ReadLimits::Messages())));
  o.Set("tableMessages", Napi::Number::New(env, static_cast<double>(ReadLimits::TableMessages())));
  return o;
}

// Main thread only: a full garbage collection that compacts the heap and gives
// its emptied pages back to the kernel. V8's own full collections free objects
// but keep the pages they were on (a burst of transactions leaves the heap's
// committed size where the burst took it); compacting is what V8 does under
// memory pressure, so the pressure is signalled and withdrawn at once (left
// raised, V8 would keep collecting eagerly). Synchronous on this thread: the
// caller picks a quiet moment.
Napi::Value HeapCompact(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate) {
    isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kCritical);
    isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
  }
  return Napi::Boolean::New(info.Env(), isolate != nullptr);
}

// CLOCK_REALTIME in ms with the fraction: Docker stamps events with it, and
// V8's Date.now() is whole (and unevenly ticking) milliseconds.
Napi::Value RealtimeMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

}  // namespace twine
