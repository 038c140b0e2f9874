#include "values.h"

#include <linux/netfilter.h>
#include <sys/socket.h>

namespace twine {

Napi::Number FamilyToJs(Napi::Env env, int af) { return Napi::Number::New(env, af == AF_INET ? 4 : 6); }

Napi::Array RoutesToJs(Napi::Env env, const std::vector<RouteEntry>& routes) {
  Napi::Array arr = Napi::Array::New(env, routes.size());
  for (size_t i = 0; i < routes.size(); i++) {
    const RouteEntry& r = routes[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", FamilyToJs(env, r.family));
    o.Set("dst", r.dst);
    o.Set("type", RouteTypeName(r.type));
    if (!r.gateway.empty()) o.Set("gateway", r.gateway);
    if (!r.dev.empty()) o.Set("dev", r.dev);
    if (r.hasMetric) o.Set("metric", Napi::Number::New(env, r.metric));
    o.Set("table", Napi::Number::New(env, r.table));
    o.Set("protocol", Napi::Number::New(env, r.protocol));
    o.Set("scope", Napi::Number::New(env, r.scope));
    arr.Set(i, o);
  }
  return arr;
}

Napi::Array RulesToJs(Napi::Env env, const std::vector<RuleSpec>& rules) {
  Napi::Array arr = Napi::Array::New(env, rules.size());
  for (size_t i = 0; i < rules.size(); i++) {
    const RuleSpec& r = rules[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", FamilyToJs(env, r.family));
    o.Set("priority", Napi::Number::New(env, r.priority));
    o.Set("table", Napi::Number::New(env, r.table));
    if (r.hasFwmark) {
      o.Set("fwmark", Napi::Number::New(env, r.fwmark));
      o.Set("fwmask", Napi::Number::New(env, r.fwmask));
    }
    if (r.hasProtocol) o.Set("protocol", Napi::Number::New(env, r.protocol));
    arr.Set(i, o);
  }
  return arr;
}

Napi::Array LinksToJs(Napi::Env env, const std::vector<LinkEntry>& links) {
  Napi::Array arr = Napi::Array::New(env, links.size());
  for (size_t i = 0; i < links.size(); i++) {
    const LinkEntry& l = links[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", Napi::Number::New(env, l.index));
    o.Set("name", l.name);
    o.Set("up", Napi::Boolean::New(env, l.up));
    o.Set("mtu", Napi::Number::New(env, l.mtu));
    if (!l.kind.empty()) o.Set("kind", l.kind);
    if (!l.mac.empty()) o.Set("mac", l.mac);
    arr.Set(i, o);
  }
  return arr;
}

Napi::Array AddrsToJs(Napi::Env env, const std::vector<AddrEntry>& addrs) {
  Napi::Array arr = Napi::Array::New(env, addrs.size());
  for (size_t i = 0; i < addrs.size(); i++) {
    const AddrEntry& a = addrs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", Napi::Number::New(env, a.ifindex));
    o.Set("ifname", a.ifname);
    o.Set("family", FamilyToJs(env, a.family));
    o.Set("address", a.address);
    o.Set("prefixlen", Napi::Number::New(env, a.prefixlen));
    arr.Set(i, o);
  }
  return arr;
}

// inet/ip/ip6 hook numbers (NF_INET_*) → nft's names.
Napi::Value NftTableToJs(Napi::Env env, const NftTableState& t) {
  if (!t.exists) return env.Null();
  Napi::Array chains = Napi::Array::New(env, t.chains.size());
  for (size_t i = 0; i < t.chains.size(); i++) {
    const NftChainInfo& c = t.chains[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", c.name);
    if (c.base) {
      o.Set("type", c.type);
      o.Set("hook", InetHookName(c.hook));
      o.Set("prio", Napi::Number::New(env, c.prio));
      if (c.hasPolicy) o.Set("policy", c.policy == NF_ACCEPT ? "accept" : c.policy == NF_DROP ? "drop" : std::to_string(c.policy));
    }
    chains.Set(i, o);
  }
  Napi::Array rules = Napi::Array::New(env, t.rules.size());
  for (size_t i = 0; i < t.rules.size(); i++) {
    const NftRuleInfo& r = t.rules[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("chain", r.chain);
    o.Set("handle", Napi::Number::New(env, static_cast<double>(r.handle)));
    if (r.hasComment) o.Set("comment", r.comment);
    o.Set("hash", HashHex(r.exprHash));
    rules.Set(i, o);
  }
  Napi::Array counters = Napi::Array::New(env, t.counters.size());
  for (size_t i = 0; i < t.counters.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.counters[i].name);
    o.Set("packets", Napi::Number::New(env, static_cast<double>(t.counters[i].packets)));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(t.counters[i].bytes)));
    counters.Set(i, o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("chains", chains);
  out.Set("rules", rules);
  out.Set("counters", counters);
  return out;
}

}  // namespace twine
