// Reading one nftables table over nfnetlink, without libnftables: what a
// transaction diffs against (chains with their hooks and policies, rules with
// their handles, comments and a keyed hash of their expressions as the kernel
// encodes them, named counters). Rule expressions are not decoded: Twine keys
// its rules by the identity in their comments, and the hash tells whether a
// rule is still the one it committed. A read takes at most ReadLimits (./rtnl.h).
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
  bool hasPolicy = false;
  uint32_t policy = 0;  // NF_ACCEPT, NF_DROP
};

struct NftRuleInfo {
  std::string chain;
  uint64_t handle = 0;
  bool hasComment = false;
  std::string comment;
  uint64_t exprHash = 0;  // RuleExprHash of its NFTA_RULE_EXPRESSIONS
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

// A hash of a rule's NFTA_RULE_EXPRESSIONS payload (`len` bytes), keyed with a
// secret of the process: each expression's name and data, but not the data of
// those that count (counter, quota, last: what they hold changes with traffic).
uint64_t RuleExprHash(const uint8_t* data, size_t len);

// The name nft gives an NF_INET_* hook number ("unknown" beyond ingress).
const char* InetHookName(uint32_t hook);

// What the in-sync check compares (src/firewall/live.ts tableInSync, which
// builds the same string from the desired table): chains by name, each with its
// hook and policy and its rules' comments in the kernel's order, then the
// counters by name; every string length-prefixed. A rule without a comment, or
// of a chain not listed, makes it differ from any desired table's.
std::string NftTableSignature(const NftTableState& t);

// The rules' expression hashes in the signature's order (chains by name, each
// chain's rules in order), 16 hex digits each: what Twine records after a
// commit and expects at the next read.
std::string NftTableHashes(const NftTableState& t);

// 16 lower-case hex digits.
std::string HashHex(uint64_t h);

}  // namespace twine
