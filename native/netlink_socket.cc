#include "netlink_socket.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace twine {

void SetRecvTimeout(int fd, int timeoutMs) {
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int OpenNetlink(int protocol, const std::vector<unsigned>& groups, int rcvbuf, Failure& f, int flags) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, protocol);
  if (fd < 0) {
    f.Set(errno, "netlink", "socket");
    return -1;
  }
  SetRecvTimeout(fd, kNetlinkTimeoutMs);
  if (!groups.empty()) {
    int size = rcvbuf;
    // FORCE passes rmem_max (we run as root); plain SO_RCVBUF is the fallback.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    f.Set(errno, "netlink", "bind");
    close(fd);
    return -1;
  }
  for (unsigned g : groups) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) != 0) {
      f.Set(errno, "netlink", "subscribe to group " + std::to_string(g));
      close(fd);
      return -1;
    }
  }
  return fd;
}

ssize_t RecvFromKernel(int fd, std::vector<char>& buf, NetlinkClock::time_point deadline, const char* stage, Failure& f) {
  for (;;) {
    // The kernel's answer is usually there already: poll only when it is not.
    sockaddr_nl from{};
    iovec iov{buf.data(), buf.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      f.Set(errno, stage, "recv");
      return -1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - NetlinkClock::now()).count();
    if (left <= 0) {
      f.Set(ETIMEDOUT, stage, "no complete answer from the kernel in time");
      return -1;
    }
    if (n < 0) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30))) < 0 && errno != EINTR) {
        f.Set(errno, stage, "poll");
        return -1;
      }
      continue;
    }
    if (mh.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) continue;
    if (mh.msg_flags & MSG_TRUNC) {
      f.Set(EMSGSIZE, stage, "a message was larger than the receive buffer");
      return -1;
    }
    return n;
  }
}

}  // namespace twine
