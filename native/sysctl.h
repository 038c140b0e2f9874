// sysctls under /proc/sys/net. /proc/sys/net follows the calling thread's
// network namespace, so these run on a worker thread after setns.
#pragma once

#include <string>

#include "job.h"

namespace twine {

constexpr size_t kMaxSysctlKeyBytes = 256;

// Main thread: "net." prefix, no "..", no "/", only [A-Za-z0-9_.-], no empty parts.
bool ValidSysctlKey(const std::string& key, std::string* why);

bool SysctlGet(const std::string& key, std::string* value, Failure& f);
bool SysctlSet(const std::string& key, const std::string& value, Failure& f);

}  // namespace twine
