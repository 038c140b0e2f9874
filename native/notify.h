// Namespace notifications for the daemon: a netlink socket opened inside a
// namespace (on a pool worker, which enters it), subscribed to rtnetlink
// groups, then watched from the main thread's event loop. Each time the
// socket becomes readable, everything queued is drained and the callback
// is called once: a cheap "something changed" signal, with no thread held
// while nothing happens (unlike the bench's watchNs, which blocks a thread).
#pragma once

#include <napi.h>

#include <vector>

#include "job.h"

namespace twine {

// Opens the subscribed socket in the target namespace; resolves to its fd.
Job* NewNotifyOpenJob(Napi::Env env, Target target, std::vector<unsigned> groups);

// Main thread: watches fd (taking ownership) and calls cb(overrun: boolean)
// after each drain. Returns {close()}; the watch never keeps the process alive.
Napi::Value StartNotifier(Napi::Env env, int fd, Napi::Function cb);

}  // namespace twine
