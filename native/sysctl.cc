#include "sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "fd_read.h"

namespace twine {

namespace {

constexpr size_t kMaxValue = 4096;

std::atomic<uint64_t> netconfReads{0};

// The family whose all-interfaces netconf forwarding value is key, or 0.
// net.ipv4.ip_forward is not a value of its own: net/ipv4/devinet.c registers
// it (ctl_forward_entry) with .data pointing at the FORWARDING slot of the
// namespace's devconf_all, which is also what net.ipv4.conf.all.forwarding
// reads and what inet_netconf_get_devconf answers for NETCONFA_IFINDEX_ALL.
// net.ipv6.conf.all.forwarding is devconf_all->forwarding, which
// inet6_netconf_get_devconf (net/ipv6/addrconf.c) answers the same way. Both
// are ints that /proc/sys prints with "%d".
int NetconfFamilyOf(const std::string& key) {
  if (key == "net.ipv4.ip_forward" || key == "net.ipv4.conf.all.forwarding") return AF_INET;
  if (key == "net.ipv6.conf.all.forwarding") return AF_INET6;
  return 0;
}

std::string PathOf(const std::string& key) {
  std::string p = "/proc/sys/" + key;
  for (size_t i = sizeof("/proc/sys/") - 1; i < p.size(); i++) {
    if (p[i] == '.') p[i] = '/';
  }
  return p;
}

}  // namespace

bool ValidSysctlKey(const std::string& key, std::string* why) {
  if (key.size() > kMaxSysctlKeyBytes) return *why = "key too long", false;
  if (key.rfind("net.", 0) != 0) return *why = "key must start with \"net.\"", false;
  if (key.find("..") != std::string::npos) return *why = "key must not contain \"..\"", false;
  if (key.back() == '.') return *why = "key must not end with \".\"", false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return *why = std::string("invalid character '") + c + "' in key", false;
  }
  return true;
}

bool SysctlGet(const std::string& key, std::string* value, Failure& f) {
  int fd = open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f.Set(errno, "sysctl", key);
    return false;
  }
  char buf[kMaxValue];
  ssize_t n = ReadUpTo(fd, buf, sizeof buf);
  if (n < 0) {
    f.Set(errno, "sysctl", key);
    close(fd);
    return false;
  }
  close(fd);
  size_t have = static_cast<size_t>(n);
  while (have > 0 && (buf[have - 1] == '\n' || buf[have - 1] == ' ')) have--;
  value->assign(buf, have);
  return true;
}

bool SysctlRead(Rtnl& nl, const std::string& key, std::string* value, Failure& f) {
  const int family = NetconfFamilyOf(key);
  if (family != 0) {
    Failure nf;  // not reported: /proc/sys gets its turn
    int32_t v = 0;
    if ((nl.IsOpen() || nl.Open(nf)) && nl.NetconfForwarding(family, &v, nf)) {
      *value = std::to_string(v);
      netconfReads.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return SysctlGet(key, value, f);
}

uint64_t SysctlNetconfReads() { return netconfReads.load(std::memory_order_relaxed); }

bool SysctlSet(const std::string& key, const std::string& value, Failure& f) {
  int fd = open(PathOf(key).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    f.Set(errno, "sysctl", key);
    return false;
  }
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n < 0) {
    f.Set(e, "sysctl", key + "=" + value);
    return false;
  }
  return true;
}

}  // namespace twine
