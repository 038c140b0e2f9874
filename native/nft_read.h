// Reading one nftables table over nfnetlink, without libnftables: what a
// transaction diffs against (chains with their hooks, rules with their handles
// and comments, named counters). Rule expressions are not decoded: Twine keys
// its rules by the identity in their comments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "job.h"

namespace twine {

struct NftChainInfo {
  std::string name;
  bool base = false;  // a base chain: hook, priority and type below are set
  uint32_t hook = 0;  // NF_INET_* hook number
  int32_t prio = 0;
  std::string type;  // "filter", "nat", "route"
};

struct NftRuleInfo {
  std::string chain;
  uint64_t handle = 0;
  bool hasComment = false;
  std::string comment;
};

struct NftCounterInfo {
  std::string name;
  uint64_t packets = 0, bytes = 0;
};

struct NftTableState {
  bool exists = false;
  std::vector<NftChainInfo> chains;
  std::vector<NftRuleInfo> rules;  // per chain in the kernel's order
  std::vector<NftCounterInfo> counters;
};

// Reads table `name` of NFPROTO_* `family` in the calling thread's namespace:
// the table, then dumps of its chains, rules and counters, filtered by the
// kernel; repeated when the ruleset generation changed in between, so the
// result is one generation's. Returns false with f set on failure.
bool NftReadTable(int family, const std::string& name, NftTableState* out, Failure& f);

// The name nft gives an NF_INET_* hook number ("unknown" beyond ingress).
const char* InetHookName(uint32_t hook);

// What the in-sync check compares (src/firewall/live.ts tableInSync, which
// builds the same string from the desired table): chains by name, each with its
// hook and its rules' comments in the kernel's order, then the counters by
// name; every string length-prefixed. A rule without a comment, or of a chain
// not listed, makes it differ from any desired table's.
std::string NftTableSignature(const NftTableState& t);

}  // namespace twine
