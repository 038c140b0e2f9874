// Argument marshalling, JS → C++, on the main thread before any job is made.
// Every value is checked for its type, range and length before it is copied
// (a string's UTF-8 length is measured first, so a huge string costs no
// allocation); strings with a NUL byte are refused, since the C side would
// read them only up to it. A bad argument throws a TypeError with code EINVAL
// and stage "arguments" (ThrowInvalid in job.h), before anything is queued.
//
// Shared by both addons (twine_native and the bench-only twine_bench).
#pragma once

#include <napi.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "conntrack.h"
#include "job.h"
#include "rtnl.h"

namespace twine {

// Bounds of what a caller may send.
constexpr size_t kMaxPathBytes = 4095;      // PATH_MAX - 1
constexpr size_t kMaxTargetNameBytes = 256; // longer names are cut, as they only label errors
constexpr size_t kMaxAddrBytes = 64;        // an address or CIDR (IPv6 with /128 is 49)
constexpr size_t kMaxSysctlValueBytes = 1024;
constexpr uint32_t kMaxBatchSteps = 1u << 21;  // above --max-routes' ceiling (10^6) plus the other steps
constexpr uint32_t kMaxNotifyGroups = 31;
constexpr size_t kMaxNftInputBytes = size_t{1} << 30;  // above 10^6 rules (--max-rules' ceiling) as JSON

// A string of at most maxBytes UTF-8 bytes without NUL; `name` names it in the error.
std::string ParseString(Napi::Env env, const std::string& op, const std::string& name, Napi::Value v, size_t maxBytes);
// An integer 0..max.
uint32_t ParseU32(Napi::Env env, const std::string& op, const std::string& name, Napi::Value v, uint32_t max);
// 4 → AF_INET, 6 → AF_INET6; undefined → 0 when optional.
int ParseFamily(Napi::Env env, const std::string& op, Napi::Value v, bool optional);
// {pid} | {path} | {fd, name?}.
Target ParseTarget(Napi::Env env, const std::string& op, Napi::Value v);

RouteSpec ParseRoute(Napi::Env env, const std::string& op, Napi::Value v);
RouteFilterSpec ParseRouteFilter(Napi::Env env, const std::string& op, Napi::Value v);
RuleSpec ParseRule(Napi::Env env, const std::string& op, Napi::Value v);
RuleFilterSpec ParseRuleFilter(Napi::Env env, const std::string& op, Napi::Value v);
// {family, proto?: 'tcp'|'udp', origDst?: cidr, origDport?: [lo, hi], replySrc?: ip, replySport?: [lo, hi], dnat?: boolean}
CtFilter ParseCtFilter(Napi::Env env, const std::string& op, Napi::Value v);

std::string ParseSysctlKey(Napi::Env env, const std::string& op, Napi::Value v);
std::string ParseSysctlValue(Napi::Env env, const std::string& op, Napi::Value v);

// nft's family names (inet, ip, ip6, arp, bridge, netdev) → NFPROTO_*.
int ParseNftFamily(Napi::Env env, const std::string& op, Napi::Value v);
// nft input (JSON or a command), up to kMaxNftInputBytes.
std::string ParseNftInput(Napi::Env env, const std::string& op, Napi::Value v);

// rtnetlink multicast groups (RTNLGRP_*): 1..31, at least one, at most kMaxNotifyGroups.
std::vector<unsigned> ParseNotifyGroups(Napi::Env env, const std::string& op, Napi::Value v);

// One step of a batch: the same operations as the single calls, run in order
// in one entry into the namespace (batch_job.cc).
struct BatchStep {
  enum Kind {
    kSysctlGet,
    kSysctlSet,
    kRouteReplace,
    kRouteDel,
    kRouteList,
    kRuleAdd,
    kRuleDel,
    kRuleList,
    kConntrackDelete,
    kNftTableRead
  } kind;
  std::string op;  // as JS named it, for the error
  std::string key, value;
  RouteSpec route;
  RouteFilterSpec filter;
  RuleSpec rule;
  RuleFilterSpec ruleFilter;
  CtFilter ct;
  int nftFamily = 0;  // kNftTableRead: NFPROTO_*
  std::string nftTable;
  // kNftTableRead: the desired table's NftTableSignature; when the read one's
  // is the same, the step answers true instead of the table.
  bool hasExpect = false;
  std::string expect;
  bool hasExpectHashes = false;  // kNftTableRead: the rules' hashes (NftTableHashes) to expect too
  std::string expectHashes;
};

// [{op: 'sysctlGet', key} | {op: 'sysctlSet', key, value} | {op: 'routeReplace'|'routeDel', route} |
//  {op: 'routeList', filter?} | {op: 'ruleAdd'|'ruleDel', rule} | {op: 'ruleList', filter?} |
//  {op: 'conntrackDelete', filter} | {op: 'nftTableRead', table: {family, name}, expect?, expectHashes?}], at most kMaxBatchSteps.
std::vector<BatchStep> ParseBatchSteps(Napi::Env env, const std::string& op, Napi::Value v);

}  // namespace twine
