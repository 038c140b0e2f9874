// Opening a netlink socket in the calling thread's network namespace (it binds
// to the namespace it is opened in), optionally subscribed to multicast groups.
#pragma once

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

}  // namespace twine
