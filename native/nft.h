// nftables through libnftables, in-process, on a worker thread inside the
// target namespace (the context's netlink socket binds to the namespace of
// the thread that creates it). Built only when libnftables' headers exist.
//
// libnftables (1.0.6) keeps process-wide state without locks: the interface
// cache (one global list, filled in the namespace of whichever thread first
// resolves a name or index, emptied at the end of every run and by every
// nft_ctx_free), the JSON parser's input descriptor and command table, a
// cached socket buffer size, and nft_ctx_new's one-time init. Two runs at once
// in two namespaces resolve `meta iif` against each other's interfaces (seen
// here: listings naming the other namespace's interfaces, valid batches
// refused), and a free during a run frees the list it walks. So every call
// into libnftables (new, run, free), on every thread including the reaper's,
// holds LibnftablesMutex (nft_reaper.h): runs are serialised process-wide.
#pragma once

#include <napi.h>

#include <string>

#include "job.h"

namespace twine {

// Main thread, once at load: starts the reaper thread that frees contexts off
// the hot path. (libnftables' own one-time init runs in the first
// nft_ctx_new, under the lock like every other call.)
void NftInit();

// libnftables contexts handed to the reaper and not yet freed.
size_t NftContextsHeld();

// The export nftRun (exports.h) queues a job that runs nft input (JSON, or a
// list command) and resolves with nft's output (JSON for list commands); it
// rejects with code ENFT and nft's text.

}  // namespace twine
