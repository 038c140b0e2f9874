// sysctls under /proc/sys/net. /proc/sys/net follows the calling thread's
// network namespace, as does a netlink socket opened in it, so these run on a
// worker thread after setns.
#pragma once

#include <string>

#include <cstdint>

#include "job.h"
#include "rtnl.h"

namespace twine {

constexpr size_t kMaxSysctlKeyBytes = 256;

// Main thread: "net." prefix, no "..", no "/", only [A-Za-z0-9_.-], no empty parts.
bool ValidSysctlKey(const std::string& key, std::string* why);

bool SysctlGet(const std::string& key, std::string* value, Failure& f);
// SysctlGet, except for the forwarding keys that rtnetlink's netconf answers
// with the very same kernel datum (net.ipv4.ip_forward,
// net.ipv4.conf.all.forwarding, net.ipv6.conf.all.forwarding): those are read
// over nl (opened here if it is not). A /proc/sys path lookup walks a dcache
// hash chain holding that name's dentry for every namespace that looked it up
// (proc_sys_compare), so each read costs O(namespaces on the host); netconf
// does not. When the netconf request fails (e.g. IPv6 disabled at boot) the
// value comes from /proc/sys as before, with /proc/sys's errors.
bool SysctlRead(Rtnl& nl, const std::string& key, std::string* value, Failure& f);
// How many values SysctlRead has taken from netconf, process-wide.
uint64_t SysctlNetconfReads();
bool SysctlSet(const std::string& key, const std::string& value, Failure& f);

}  // namespace twine
