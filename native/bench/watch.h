// The namespace watch (bench tooling, not used by the daemon): waits until a
// route and an nftables table appear in a namespace and says when each was
// seen, from rtnetlink and nfnetlink notifications instead of polling.
//
// Order matters for honesty: the sockets subscribe first, then the current
// state is checked (so a commit made before the subscription is still
// caught, stamped at the check's return), then notifications are awaited,
// each stamped when recv() returned it. Every stamp is therefore an upper
// bound of the kernel's commit.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <unordered_set>

#include "../job.h"
#include "../rtnl.h"

namespace twine {

struct WatchSpec {
  // A single-path route that counts when it matches family, dst, table and
  // type, and gateway and protocol when given.
  bool wantRoute = false;
  RouteSpec route;
  // An nftables table (NFPROTO_* family and name).
  bool wantTable = false;
  int tableFamily = 0;
  std::string tableName;
  uint32_t timeoutMs = 0;
  int rcvBuf = 0;  // of the subscribed sockets; set by Watches
};

class WatchJob;

// Every watch in flight. Each runs on a thread of its own: a watch blocks
// for up to its timeout and must not hold a pool worker. Threads are
// created from the main thread, so they start in the daemon's namespace.
class Watches {
 public:
  explicit Watches(Napi::Env env);
  Watches(const Watches&) = delete;
  Watches& operator=(const Watches&) = delete;

  // Main thread: starts a watch. The promise settles exactly once.
  Napi::Promise Start(Napi::Env env, Target target, WatchSpec spec);
  // Main thread, at environment teardown: wakes every watch and waits for
  // its thread; their promises are then never settled.
  void Stop();

 private:
  void Run(WatchJob* job);
  void Complete(Napi::Env env, WatchJob* job);

  ino_t home_ino_;
  int rcvbuf_;
  Napi::ThreadSafeFunction tsfn_;
  size_t pending_ = 0;  // main thread only

  std::mutex mu_;
  std::condition_variable exited_;
  std::unordered_set<WatchJob*> live_;
  bool stopping_ = false;
};

}  // namespace twine
