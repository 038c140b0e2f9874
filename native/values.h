// Marshalling of results, C++ → JS, on the main thread when a job settles.
// The shapes are those of src/netns/types.ts (Route, Rule, Link, Addr, NftTableState).
#pragma once

#include <napi.h>

#include <vector>

#include "nft_read.h"
#include "rtnl.h"

namespace twine {

// AF_INET → 4, AF_INET6 → 6.
Napi::Number FamilyToJs(Napi::Env env, int af);
Napi::Array RoutesToJs(Napi::Env env, const std::vector<RouteEntry>& routes);
Napi::Array RulesToJs(Napi::Env env, const std::vector<RuleSpec>& rules);
Napi::Array LinksToJs(Napi::Env env, const std::vector<LinkEntry>& links);
Napi::Array AddrsToJs(Napi::Env env, const std::vector<AddrEntry>& addrs);
// null when the table is not there; else NftTableState of src/netns/types.ts.
Napi::Value NftTableToJs(Napi::Env env, const NftTableState& t);

}  // namespace twine
