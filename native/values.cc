#include "values.h"

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

}  // namespace twine
