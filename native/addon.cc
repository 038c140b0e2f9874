// Module init of the twine_native addon: creates the worker pool (the
// environment's instance data) and registers the exports. The exports
// themselves live with their jobs (exports.h).
#include <malloc.h>
#include <stdlib.h>

#include "exports.h"
#ifdef TWINE_HAVE_NFT
#include "nft.h"
#endif

namespace twine {

namespace {

constexpr int kDefaultThreads = 4;
constexpr int kMaxThreads = 64;
constexpr int kMaxArenas = 2;

int ThreadCount() {
  const char* s = getenv("TWINE_NETNS_THREADS");
  int n = s ? atoi(s) : kDefaultThreads;
  return n < 1 ? 1 : n > kMaxThreads ? kMaxThreads : n;
}

}  // namespace

Pool& PoolOf(Napi::Env env) { return *env.GetInstanceData<AddonData>()->pool; }

Napi::Value Submit(Napi::Env env, Job* job) {
  Napi::Promise p = job->Promise();
  PoolOf(env).Submit(env, job);
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // At most two glibc malloc arenas for the process: the main one and one that
  // every other thread shares. By default each thread that allocates gets an
  // arena of its own (up to 8 per CPU), and the workers' libnftables contexts
  // and netlink buffers, freed in bursts, leave each of them fragmented: with
  // 300 containers brought in sync, 76-83 MB settled RSS with an arena per
  // thread, 67-72 MB with two.
  // It binds only threads that have not allocated yet, so the daemon's launcher
  // (bin/twine.js) loads this addon before any other module.
  mallopt(M_ARENA_MAX, kMaxArenas);
  auto* addon = new AddonData();
  addon->pool = new Pool(env, ThreadCount());
  env.SetInstanceData(addon);
  // After the pool's thread-safe function exists: hooks run in reverse
  // order, so the workers are stopped before Node tears it down.
  env.AddCleanupHook([addon] { addon->pool->Stop(); });

  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim));
  exports.Set("setReadLimits", Napi::Function::New(env, SetReadLimitsFn));
  exports.Set("heapCompact", Napi::Function::New(env, HeapCompact));
  exports.Set("realtimeMs", Napi::Function::New(env, RealtimeMs));
  exports.Set("routeList", Napi::Function::New(env, RouteList));
  exports.Set("routeAdd", Napi::Function::New(env, RouteAdd));
  exports.Set("routeReplace", Napi::Function::New(env, RouteReplace));
  exports.Set("routeDel", Napi::Function::New(env, RouteDel));
  exports.Set("linkList", Napi::Function::New(env, LinkList));
  exports.Set("addrList", Napi::Function::New(env, AddrList));
  exports.Set("sysctlGet", Napi::Function::New(env, SysctlGetFn));
  exports.Set("sysctlSet", Napi::Function::New(env, SysctlSetFn));
  exports.Set("batch", Napi::Function::New(env, Batch));
  exports.Set("notifyOpen", Napi::Function::New(env, NotifyOpen));
  exports.Set("notifyStart", Napi::Function::New(env, NotifyStart));
  exports.Set("pidCheck", Napi::Function::New(env, PidCheck));
  exports.Set("rootFileRead", Napi::Function::New(env, RootFileRead));
#ifdef TWINE_TEST_EXPORTS
  RegisterTestExports(env, exports);
#endif
#ifdef TWINE_HAVE_NFT
  NftInit();
  exports.Set("nftAvailable", Napi::Boolean::New(env, true));
  exports.Set("nftRun", Napi::Function::New(env, NftRun));
#else
  exports.Set("nftAvailable", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace twine

static Napi::Object InitTwine(Napi::Env env, Napi::Object exports) { return twine::Init(env, exports); }

NODE_API_MODULE(twine_native, InitTwine)
