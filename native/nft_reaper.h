// Frees libnftables contexts off the hot path, and late enough that freeing
// does not stall the namespace.
//
// Closing a context's netfilter socket makes the kernel flush the namespace's
// pending nf_tables destroy work while holding that namespace's commit mutex.
// After a batch that deleted something, that work waits for an RCU grace
// period (10-50 ms here), so a close right after it takes that long and every
// commit in the namespace meanwhile waits too (bench/nft-stages: the second of
// two diff transactions in a row took 9.6 ms instead of 0.7 ms; libnftables
// 1.0.6 cannot keep the socket without the context). Hence: contexts of a
// namespace that had a deleting batch are held until it has had none for
// kSettle (by then the work is done and closing is instant); the others are
// freed at once. kMaxHeld bounds the memory (~0.7 MB a context, mostly its
// cache, so ~11 MB): beyond it the oldest is freed anyway, as before this
// existed. A namespace re-applied back to back for longer than that still
// stalls; only keeping one context per namespace open would avoid it.
#pragma once

#include <nftables/libnftables.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace twine {

// Whether nft input may leave destroy work behind: it deletes, flushes or
// replaces something. Conservative: a false positive only holds a context.
bool MayDeleteSomething(const std::string& input);

class NftReaper {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kSettle{100};
  static constexpr size_t kMaxHeld = 16;

  // Starts the thread. Create it from the main thread (home namespace).
  NftReaper();

  // Any thread. Takes ctx, which ran in the namespace with inode ns;
  // deleted says whether its input may have deleted something there.
  void Hand(nft_ctx* ctx, ino_t ns, bool deleted);

  // Contexts handed and not yet freed.
  size_t held();

 private:
  struct Held {
    nft_ctx* ctx;
    ino_t ns;
    Clock::time_point handed;
  };
  void Loop();
  // With mu_ held: the next context that may be freed now, or queue_.end();
  // *next is set to when to look again.
  std::deque<Held>::iterator NextDueLocked(Clock::time_point now, Clock::time_point* next);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> queue_;
  // Namespace inode → when its last deleting batch's context was handed.
  // A held context keeps its namespace (and so its inode) alive.
  std::unordered_map<ino_t, Clock::time_point> lastDelete_;
  size_t freeing_ = 0;
};

}  // namespace twine
