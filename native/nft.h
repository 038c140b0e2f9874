// nftables through libnftables, in-process, on a worker thread inside the
// target namespace (the context's netlink socket binds to the namespace of
// the thread that creates it). Built only when libnftables' headers exist.
#pragma once

#include <napi.h>

#include <string>

#include "job.h"

namespace twine {

// Main thread, once at load: runs libnftables' unguarded one-time init and
// starts the reaper thread that frees contexts off the hot path.
void NftInit();

// libnftables contexts handed to the reaper and not yet freed.
size_t NftContextsHeld();

// A job that runs `text` (nft JSON, or a list command) and resolves with
// nft's output (JSON for list commands); rejects with code ENFT and nft's text.
Job* NewNftJob(Napi::Env env, Target target, std::string text);

}  // namespace twine
