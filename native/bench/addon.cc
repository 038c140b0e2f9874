// Module init of twine_bench, the bench-only addon (bench/watch.ts,
// bench/watch-resolution.ts, test/kernel/watch.test.ts): the namespace watch,
// watchNs. The daemon's addon, twine_native, does not contain it.
#include <napi.h>

#include <string>

#include "../args.h"
#include "watch.h"

namespace twine {

namespace {

constexpr uint32_t kMaxWatchMs = 10 * 60 * 1000;

// The environment's instance data. Deleting it leaves the Watches alone: its
// threads may still reference it until the cleanup hook has stopped them.
struct BenchData {
  Watches* watches = nullptr;
};

Watches& WatchesOf(Napi::Env env) { return *env.GetInstanceData<BenchData>()->watches; }

// {route?: {family, dst, gateway?, protocol?, table?, type?}, table?: {family, name}}, at least one.
WatchSpec ParseWatchSpec(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "spec must be an object");
  Napi::Object o = v.As<Napi::Object>();
  WatchSpec w;
  Napi::Value route = o.Get("route");
  if (!route.IsUndefined()) {
    w.route = ParseRoute(env, op, route);
    for (const char* key : {"dev", "metric", "scope"})
      if (!route.As<Napi::Object>().Get(key).IsUndefined())
        ThrowInvalid(env, op, std::string("route.") + key + " is not matched by a watch");
    w.wantRoute = true;
  }
  Napi::Value table = o.Get("table");
  if (!table.IsUndefined()) {
    if (!table.IsObject()) ThrowInvalid(env, op, "table must be {family, name}");
    Napi::Object t = table.As<Napi::Object>();
    w.tableFamily = ParseNftFamily(env, op, t.Get("family"));
    w.tableName = ParseString(env, op, "table.name", t.Get("name"), 255);
    if (w.tableName.empty()) ThrowInvalid(env, op, "table.name must be 1..255 characters");
    w.wantTable = true;
  }
  if (!w.wantRoute && !w.wantTable) ThrowInvalid(env, op, "spec must name a route, a table or both");
  return w;
}

// watchNs(target, spec, timeoutMs) → Promise<WatchResult>.
Napi::Value WatchNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "watchNs", info[0]);
  WatchSpec w = ParseWatchSpec(env, "watchNs", info[1]);
  w.timeoutMs = ParseU32(env, "watchNs", "timeoutMs", info[2], kMaxWatchMs);
  return WatchesOf(env).Start(env, std::move(t), std::move(w));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new BenchData();
  data->watches = new Watches(env);
  env.SetInstanceData(data);
  // After the watches' thread-safe function exists: hooks run in reverse
  // order, so the threads are stopped before Node tears it down.
  env.AddCleanupHook([data] { data->watches->Stop(); });
  exports.Set("watchNs", Napi::Function::New(env, WatchNs));
  return exports;
}

}  // namespace

}  // namespace twine

static Napi::Object InitTwineBench(Napi::Env env, Napi::Object exports) { return twine::Init(env, exports); }

NODE_API_MODULE(twine_bench, InitTwineBench)
