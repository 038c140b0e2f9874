// The namespace guard: a worker thread enters a target network namespace,
// runs one operation and returns to the namespace it was created in. If it
// cannot return, it reports so and the caller must retire the thread.
#pragma once

#include <sys/types.h>

#include <functional>

#include "job.h"

namespace twine {

class NsGuard {
 public:
  // Records the calling thread's current namespace as its home. Call on the
  // thread that will use the guard, right after it starts.
  NsGuard();
  ~NsGuard();
  NsGuard(const NsGuard&) = delete;
  NsGuard& operator=(const NsGuard&) = delete;

  bool ok() const { return home_fd_ >= 0; }
  ino_t home_inode() const { return home_ino_; }

  // Enters target, runs work, restores (a home target: runs work where it is). Failures to enter are written to f.
  // Returns false only when the thread could not get back home: it must then
  // never run anything else.
  bool Run(const Target& target, Failure& f, const std::function<void()>& work);

  // Inode of the calling thread's current network namespace, 0 on error.
  static ino_t CurrentInode();

 private:
  // Runs work in the namespace just entered, then returns home (see Run).
  bool Enter(const std::function<void()>& work);

  int home_fd_ = -1;
  ino_t home_ino_ = 0;
};

}  // namespace twine
