// The functions the twine_native addon exports, grouped by the file that
// defines them; addon.cc only registers them. Each checks its arguments on
// the main thread (args.h), then queues a job on the addon's pool (Submit)
// and returns the job's promise.
#pragma once

#include <napi.h>

#include "job.h"
#include "pool.h"

namespace twine {

// What the addon's environment holds (its instance data).
struct AddonData {
  Pool* pool = nullptr;
};

// Main thread: queues job (taking ownership) on the addon's pool; returns its promise.
Napi::Value Submit(Napi::Env env, Job* job);
Pool& PoolOf(Napi::Env env);

// rtnl_jobs.cc
Napi::Value RouteList(const Napi::CallbackInfo& info);
Napi::Value RouteAdd(const Napi::CallbackInfo& info);
Napi::Value RouteReplace(const Napi::CallbackInfo& info);
Napi::Value RouteDel(const Napi::CallbackInfo& info);
Napi::Value LinkList(const Napi::CallbackInfo& info);
Napi::Value AddrList(const Napi::CallbackInfo& info);

// sysctl_jobs.cc
Napi::Value SysctlGetFn(const Napi::CallbackInfo& info);
Napi::Value SysctlSetFn(const Napi::CallbackInfo& info);

// batch_job.cc
Napi::Value Batch(const Napi::CallbackInfo& info);

// notify.cc
Napi::Value NotifyOpen(const Napi::CallbackInfo& info);
Napi::Value NotifyStart(const Napi::CallbackInfo& info);

// pid_check.cc: reads of the host's /proc, in no namespace.
Napi::Value PidCheck(const Napi::CallbackInfo& info);

// root_file.cc: a small file inside a container, through /proc/<pid>/root.
Napi::Value RootFileRead(const Napi::CallbackInfo& info);

#ifdef TWINE_HAVE_NFT
// nft.cc
Napi::Value NftRun(const Napi::CallbackInfo& info);
#endif

// process.cc: about the process, not a namespace.
Napi::Value Version(const Napi::CallbackInfo& info);
Napi::Value Stats(const Napi::CallbackInfo& info);
Napi::Value MallocTrim(const Napi::CallbackInfo& info);
// What one read of a namespace may take (ReadLimits in rtnl.h); returns the limits now in force.
Napi::Value SetReadLimitsFn(const Napi::CallbackInfo& info);
Napi::Value HeapCompact(const Napi::CallbackInfo& info);
Napi::Value RealtimeMs(const Napi::CallbackInfo& info);

#ifdef TWINE_TEST_EXPORTS
// test_exports.cc (scripts/build-asan.mjs only).
void RegisterTestExports(Napi::Env env, Napi::Object exports);
#endif

}  // namespace twine
