// Opening a netlink socket in the calling thread's network namespace (it binds
// to the namespace it is opened in), optionally subscribed to multicast groups.
#pragma once

#include <vector>

#include "job.h"

namespace twine {

// A netlink socket of `protocol`, subscribed to `groups` (with a receive buffer
// of rcvbuf bytes) when given; `flags` are added to socket()'s type (e.g.
// SOCK_NONBLOCK). Returns the fd, or -1 with f set.
int OpenNetlink(int protocol, const std::vector<unsigned>& groups, int rcvbuf, Failure& f, int flags = 0);

}  // namespace twine
