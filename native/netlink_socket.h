// Opening a netlink socket in the calling thread's network namespace (it binds
// to the namespace it is opened in), optionally subscribed to multicast groups,
// and receiving from it: only what the kernel sent, within one deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

#include "job.h"

namespace twine {

// How long a blocking netlink receive waits before the operation fails with
// ETIMEDOUT: the kernel answers at once unless something holds its locks.
constexpr int kNetlinkTimeoutMs = 10000;

// SO_RCVTIMEO of timeoutMs on fd (best effort: without it a receive blocks).
void SetRecvTimeout(int fd, int timeoutMs);

// A netlink socket of `protocol`, subscribed to `groups` (with a receive buffer
// of rcvbuf bytes) when given; `flags` are added to socket()'s type (e.g.
// SOCK_NONBLOCK); blocking receives time out after kNetlinkTimeoutMs.
// Returns the fd, or -1 with f set.
int OpenNetlink(int protocol, const std::vector<unsigned>& groups, int rcvbuf, Failure& f, int flags = 0);

using NetlinkClock = std::chrono::steady_clock;

// One deadline for a whole request/answer loop: a stream of messages (forged
// or not) cannot keep a worker receiving past it, as a per-receive timeout would.
inline NetlinkClock::time_point NetlinkDeadline(int timeoutMs = kNetlinkTimeoutMs) {
  return NetlinkClock::now() + std::chrono::milliseconds(timeoutMs);
}

// One datagram from the kernel (sender port 0) into buf: its length, or -1 with
// f set (stage `stage`): ETIMEDOUT once `deadline` passed, EMSGSIZE for one
// larger than buf. Datagrams of any other sender (a process of the namespace
// may send to the socket's port) are dropped unread.
ssize_t RecvFromKernel(int fd, std::vector<char>& buf, NetlinkClock::time_point deadline, const char* stage, Failure& f);

}  // namespace twine
