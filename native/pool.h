// Dedicated worker threads (not the libuv pool, so long namespace work never
// starves Node's fs/dns). Threads are created only from the main thread, so
// they start in the daemon's own namespace. A thread that cannot return to
// it retires; the main thread starts a replacement. Jobs for the same target
// run one at a time, in submission order; different targets run in parallel.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>
#include <sys/types.h>

#include "job.h"

namespace twine {

class Pool {
 public:
  Pool(Napi::Env env, int threads);
  ~Pool();

  // Main thread. Takes ownership of job.
  void Submit(Napi::Env env, Job* job);
  // Main thread, at environment teardown: stops and waits for the workers.
  void Stop();

  int size() const { return size_; }
  int retired() const { return retired_; }
  ino_t home_inode() const { return home_ino_; }

 private:
  void Spawn();
  void Loop();
  // With mu_ held: the first queued job whose target is not busy, or null.
  Job* TakeRunnable();
  void Complete(Napi::Env env, Job* job, bool retiredThread);

  const int size_;
  ino_t home_ino_;
  Napi::ThreadSafeFunction tsfn_;
  size_t pending_ = 0;  // main thread only
  int retired_ = 0;     // main thread only

  std::mutex mu_;
  std::condition_variable cv_;       // work available / stopping
  std::condition_variable exited_;   // a worker left its loop
  std::deque<Job*> queue_;
  std::unordered_set<std::string> busy_;  // targets a worker is in right now
  bool stopping_ = false;
  int live_ = 0;
};

}  // namespace twine
