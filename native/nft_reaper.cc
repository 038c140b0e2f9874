#include "nft_reaper.h"

#include <sched.h>

#include <thread>

namespace twine {

std::mutex& LibnftablesMutex() {
  // Never destroyed: the reaper thread may still free contexts during static destruction at exit.
  static std::mutex* mu = new std::mutex();
  return *mu;
}

bool MayDeleteSomething(const std::string& input) {
  for (const char* word : {"delete", "flush", "replace", "destroy"})
    if (input.find(word) != std::string::npos) return true;
  return false;
}

NftReaper::NftReaper() { std::thread([this] { Loop(); }).detach(); }

void NftReaper::Deleting(ino_t ns) {
  std::lock_guard<std::mutex> lock(mu_);
  unsettled_[ns].running++;
}

void NftReaper::Hand(nft_ctx* ctx, ino_t ns, bool deleting) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deleting) {
      Unsettled& u = unsettled_[ns];
      u.running--;
      u.lastEnd = Clock::now();
    }
    if (ctx) queue_.push_back({ctx, ns});
  }
  cv_.notify_one();
}

size_t NftReaper::held() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + freeing_;
}

std::deque<NftReaper::Held>::iterator NftReaper::NextDueLocked(Clock::time_point now, Clock::time_point* next) {
  *next = Clock::time_point::max();
  for (auto it = unsettled_.begin(); it != unsettled_.end();)
    it = it->second.running == 0 && it->second.lastEnd + kSettle <= now ? unsettled_.erase(it) : std::next(it);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    auto u = unsettled_.find(it->ns);
    if (u == unsettled_.end()) return it;
    // While a deleting batch runs there is no deadline: its Hand wakes the loop.
    if (u->second.running == 0) *next = std::min(*next, u->second.lastEnd + kSettle);
  }
  if (queue_.size() <= kMaxHeld) return queue_.end();
  // Over the cap: the context of the namespace quiet for longest, never one
  // whose deleting batch is running (closing then would stall its commit).
  auto pick = queue_.end();
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    const Unsettled& u = unsettled_.at(it->ns);
    if (u.running == 0 && (pick == queue_.end() || u.lastEnd < unsettled_.at(pick->ns).lastEnd)) pick = it;
  }
  return pick;
}

bool NftReaper::StillDueLocked(ino_t ns, Clock::time_point now) {
  auto u = unsettled_.find(ns);
  if (u == unsettled_.end()) return true;
  if (u->second.running > 0) return false;
  return u->second.lastEnd + kSettle <= now || queue_.size() + 1 > kMaxHeld;
}

void NftReaper::Loop() {
  // Background work (freeing contexts): never preempt the threads that apply.
  sched_param sp{};
  sched_setscheduler(0, SCHED_BATCH, &sp);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return !queue_.empty(); });
    Clock::time_point next;
    auto due = NextDueLocked(Clock::now(), &next);
    if (due == queue_.end()) {
      // Woken early by a new context; the loop looks again.
      if (next == Clock::time_point::max()) cv_.wait(lock);
      else cv_.wait_until(lock, next);
      continue;
    }
    const Held picked = *due;
    queue_.erase(due);
    freeing_++;
    lock.unlock();
    {
      // nft_ctx_free also empties libnftables' global interface cache.
      std::lock_guard<std::mutex> nft(LibnftablesMutex());
      lock.lock();
      const bool free = StillDueLocked(picked.ns, Clock::now());
      if (!free) queue_.push_front(picked);
      lock.unlock();
      if (free) nft_ctx_free(picked.ctx);
    }
    lock.lock();
    freeing_--;
  }
}

}  // namespace twine
