// Frees libnftables contexts off the hot path, and late enough that freeing
// does not stall the namespace.
//
// Closing a context's netfilter socket makes the kernel flush the namespace's
// pending nf_tables destroy work while holding that namespace's commit mutex.
// After a batch that deleted something, that work waits for an RCU grace
// period (10-50 ms here), so a close right after it takes that long and every
// commit in the namespace meanwhile waits too (bench/nft-stages: the second of
// two diff transactions in a row took 9.6 ms instead of 0.7 ms; libnftables
// 1.0.6 cannot keep the socket without the context).
//
// Hence: contexts of a namespace with a deleting batch running, or one that
// ended less than kSettle ago, are held (after kSettle the work is done and
// closing is instant); the others are freed at once. kMaxHeld bounds the
// memory (~0.7 MB a context, mostly its cache, so ~11 MB): beyond it the
// context of the namespace quiet for longest is freed anyway (that close may
// wait, as every close did before). A namespace re-applied back to back for
// longer than that still stalls; only keeping one context per namespace open
// would avoid it.
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

// Held around every libnftables call, on every thread (nft.h says why).
std::mutex& LibnftablesMutex();

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

  // Any thread, before running input that may delete something in the
  // namespace with inode ns: none of its contexts is freed from now until
  // kSettle after the matching Hand. (Marking only at Hand would let a
  // context picked just before the commit be closed right after it.)
  void Deleting(ino_t ns);

  // Any thread, without LibnftablesMutex held. Takes ctx, which ran in the
  // namespace with inode ns (null: the run never got a context); deleting
  // must be what was passed to Deleting for this run, if called.
  void Hand(nft_ctx* ctx, ino_t ns, bool deleting);

  // Contexts handed and not yet freed.
  size_t held();

 private:
  struct Held {
    nft_ctx* ctx;
    ino_t ns;
  };
  // A namespace that has (had) deleting batches.
  struct Unsettled {
    int running = 0;
    Clock::time_point lastEnd;
  };
  void Loop();
  // With mu_ held: the next context that may be freed now, or queue_.end();
  // *next is set to when to look again.
  std::deque<Held>::iterator NextDueLocked(Clock::time_point now, Clock::time_point* next);
  // With mu_ held: whether a context of ns picked earlier may still be freed
  // now (the pick waited for LibnftablesMutex, during which a deleting batch
  // may have started or ended in ns).
  bool StillDueLocked(ino_t ns, Clock::time_point now);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> queue_;
  // By namespace inode; dropped once settled. A held context keeps its
  // namespace (and so its inode) alive.
  std::unordered_map<ino_t, Unsettled> unsettled_;
  size_t freeing_ = 0;
};

}  // namespace twine
