#include "netlink_socket.h"

#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

}  // namespace twine
