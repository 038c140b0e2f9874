#include "args.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <limits>
#include <utility>

#include "sysctl.h"

namespace twine {

namespace {

constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

// The UTF-8 length of a JS string, measured without copying it.
size_t Utf8Length(Napi::Env env, Napi::Value v) {
  size_t len = 0;
  napi_status s = napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  NAPI_THROW_IF_FAILED(env, s, 0);
  return len;
}

void ParseAddr(Napi::Env env, const std::string& op, const std::string& name, int family, const std::string& s,
               uint8_t* out) {
  if (inet_pton(family, s.c_str(), out) != 1)
    ThrowInvalid(env, op, name + " \"" + s + "\" is not an IPv" + (family == AF_INET ? "4" : "6") + " address");
}

// "addr" or "addr/len" of family into out (16 bytes) and *len (the full length without "/len").
// This repeats src/net/cidr.ts cidrSyntax on purpose: the addon is the trust boundary of native
// code and checks every argument itself, whatever JavaScript checked before.
void ParseCidr(Napi::Env env, const std::string& op, const std::string& name, int family, Napi::Value v,
               uint8_t* out, int* len) {
  if (!v.IsString()) ThrowInvalid(env, op, name + " must be a CIDR string");
  std::string cidr = ParseString(env, op, name, v, kMaxAddrBytes);
  const int maxLen = family == AF_INET ? 32 : 128;
  size_t slash = cidr.find('/');
  *len = maxLen;
  if (slash != std::string::npos) {
    std::string digits = cidr.substr(slash + 1);
    bool ok = !digits.empty() && digits.size() <= 3;
    int n = 0;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      n = n * 10 + (c - '0');
    }
    if (!ok || n > maxLen) ThrowInvalid(env, op, name + " \"" + cidr + "\": bad prefix length");
    *len = n;
  }
  ParseAddr(env, op, name, family, cidr.substr(0, slash), out);
}

uint8_t ParseU8(Napi::Env env, const std::string& op, const std::string& name, Napi::Value v) {
  return static_cast<uint8_t>(ParseU32(env, op, name, v, 255));
}

}  // namespace

std::string ParseString(Napi::Env env, const std::string& op, const std::string& name, Napi::Value v,
                        size_t maxBytes) {
  if (!v.IsString()) ThrowInvalid(env, op, name + " must be a string");
  if (Utf8Length(env, v) > maxBytes)
    ThrowInvalid(env, op, name + " is longer than " + std::to_string(maxBytes) + " bytes");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowInvalid(env, op, name + " contains a NUL byte");
  return s;
}

uint32_t ParseU32(Napi::Env env, const std::string& op, const std::string& name, Napi::Value v, uint32_t max) {
  if (!v.IsNumber()) ThrowInvalid(env, op, name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  // NaN fails the range test; a fraction fails the round trip.
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowInvalid(env, op, name + " must be an integer 0.." + std::to_string(max));
  return static_cast<uint32_t>(d);
}

int ParseFamily(Napi::Env env, const std::string& op, Napi::Value v, bool optional) {
  if (optional && v.IsUndefined()) return 0;
  if (v.IsNumber()) {
    double f = v.As<Napi::Number>().DoubleValue();
    if (f == 4) return AF_INET;
    if (f == 6) return AF_INET6;
  }
  ThrowInvalid(env, op, "family must be 4 or 6");
}

Target ParseTarget(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "target must be {pid}, {path} or {fd}");
  Napi::Object o = v.As<Napi::Object>();
  Target t;
  Napi::Value pid = o.Get("pid"), path = o.Get("path"), fd = o.Get("fd");
  if (fd.IsNumber() && pid.IsUndefined() && path.IsUndefined()) {
    t.fd = static_cast<int>(ParseU32(env, op, "fd", fd, std::numeric_limits<int>::max()));
    Napi::Value name = o.Get("name");
    if (name.IsString()) {
      // Only labels errors: cut to kMaxTargetNameBytes while copying.
      std::string buf(kMaxTargetNameBytes + 1, '\0');
      size_t n = 0;
      NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, name, &buf[0], buf.size(), &n), t);
      t.name.assign(buf.data(), n);
    }
    return t;
  }
  if (pid.IsNumber() && path.IsUndefined() && fd.IsUndefined()) {
    uint32_t p = ParseU32(env, op, "pid", pid, std::numeric_limits<int>::max());
    if (p == 0) ThrowInvalid(env, op, "pid must be a positive integer");
    t.byPid = true;
    t.pid = static_cast<int>(p);
    return t;
  }
  if (path.IsString() && pid.IsUndefined() && fd.IsUndefined()) {
    t.path = ParseString(env, op, "path", path, kMaxPathBytes);
    if (t.path.empty() || t.path[0] != '/') ThrowInvalid(env, op, "path must be absolute");
    return t;
  }
  ThrowInvalid(env, op, "target must be {pid}, {path} or {fd}");
}

RouteSpec ParseRoute(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "route must be an object");
  Napi::Object o = v.As<Napi::Object>();
  RouteSpec r;
  r.family = ParseFamily(env, op, o.Get("family"), false);
  ParseCidr(env, op, "dst", r.family, o.Get("dst"), r.dst, &r.dstLen);
  Napi::Value gw = o.Get("gateway");
  if (!gw.IsUndefined()) {
    ParseAddr(env, op, "gateway", r.family, ParseString(env, op, "gateway", gw, kMaxAddrBytes), r.gateway);
    r.hasGateway = true;
  }
  Napi::Value dev = o.Get("dev");
  if (!dev.IsUndefined()) {
    r.dev = ParseString(env, op, "dev", dev, 255);
    if (r.dev.empty() || r.dev.size() >= 16 || r.dev.find('/') != std::string::npos)
      ThrowInvalid(env, op, "dev \"" + r.dev + "\" is not an interface name");
  }
  Napi::Value metric = o.Get("metric");
  if (!metric.IsUndefined()) {
    r.metric = ParseU32(env, op, "metric", metric, kU32Max);
    r.hasMetric = true;
  }
  Napi::Value table = o.Get("table");
  if (!table.IsUndefined()) {
    r.table = ParseU32(env, op, "table", table, kU32Max);
    if (r.table == 0) ThrowInvalid(env, op, "table must not be 0");
  }
  Napi::Value proto = o.Get("protocol");
  if (!proto.IsUndefined()) {
    r.protocol = ParseU8(env, op, "protocol", proto);
    r.hasProtocol = true;
  }
  Napi::Value scope = o.Get("scope");
  if (!scope.IsUndefined()) {
    r.scope = ParseU8(env, op, "scope", scope);
    r.hasScope = true;
  }
  Napi::Value type = o.Get("type");
  if (!type.IsUndefined()) {
    if (!type.IsString() || Utf8Length(env, type) > 16 ||
        !ParseRouteType(type.As<Napi::String>().Utf8Value(), &r.type))
      ThrowInvalid(env, op, "type must be unicast, unreachable, blackhole or prohibit");
  }
  return r;
}

RouteFilterSpec ParseRouteFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  RouteFilterSpec f;
  if (v.IsUndefined()) return f;
  if (!v.IsObject()) ThrowInvalid(env, op, "filter must be an object");
  Napi::Object o = v.As<Napi::Object>();
  f.family = ParseFamily(env, op, o.Get("family"), true);
  if (!o.Get("table").IsUndefined()) f.table = ParseU32(env, op, "table", o.Get("table"), kU32Max);
  if (!o.Get("protocol").IsUndefined()) f.protocol = ParseU8(env, op, "protocol", o.Get("protocol"));
  return f;
}

RuleSpec ParseRule(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "rule must be an object");
  Napi::Object o = v.As<Napi::Object>();
  RuleSpec r;
  r.family = ParseFamily(env, op, o.Get("family"), false);
  r.priority = ParseU32(env, op, "priority", o.Get("priority"), kU32Max);
  r.table = ParseU32(env, op, "table", o.Get("table"), kU32Max);
  if (r.table == 0) ThrowInvalid(env, op, "table must not be 0");
  if (!o.Get("fwmark").IsUndefined()) {
    r.fwmark = ParseU32(env, op, "fwmark", o.Get("fwmark"), kU32Max);
    r.hasFwmark = true;
    if (!o.Get("fwmask").IsUndefined()) r.fwmask = ParseU32(env, op, "fwmask", o.Get("fwmask"), kU32Max);
  }
  if (!o.Get("protocol").IsUndefined()) {
    r.protocol = ParseU8(env, op, "protocol", o.Get("protocol"));
    r.hasProtocol = true;
  }
  return r;
}

RuleFilterSpec ParseRuleFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  RuleFilterSpec f;
  if (v.IsUndefined()) return f;
  if (!v.IsObject()) ThrowInvalid(env, op, "filter must be an object");
  Napi::Object o = v.As<Napi::Object>();
  f.family = ParseFamily(env, op, o.Get("family"), true);
  if (!o.Get("protocol").IsUndefined()) f.protocol = ParseU8(env, op, "protocol", o.Get("protocol"));
  return f;
}

CtFilter ParseCtFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "filter must be an object");
  Napi::Object o = v.As<Napi::Object>();
  CtFilter c;
  c.family = ParseFamily(env, op, o.Get("family"), false);
  Napi::Value proto = o.Get("proto");
  if (!proto.IsUndefined()) {
    std::string p = proto.IsString() && Utf8Length(env, proto) <= 3 ? proto.As<Napi::String>().Utf8Value() : "";
    if (p == "tcp") c.proto = IPPROTO_TCP;
    else if (p == "udp") c.proto = IPPROTO_UDP;
    else ThrowInvalid(env, op, "proto must be tcp or udp");
  }
  auto ports = [&](const char* name, uint16_t* lo, uint16_t* hi) {
    Napi::Value pv = o.Get(name);
    if (pv.IsUndefined()) return;
    if (!pv.IsArray() || pv.As<Napi::Array>().Length() != 2) ThrowInvalid(env, op, std::string(name) + " must be [lo, hi]");
    Napi::Array a = pv.As<Napi::Array>();
    uint32_t l = ParseU32(env, op, name, a.Get(0u), 65535), h = ParseU32(env, op, name, a.Get(1u), 65535);
    if (l > h) ThrowInvalid(env, op, std::string(name) + " ends before it starts");
    *lo = static_cast<uint16_t>(l);
    *hi = static_cast<uint16_t>(h);
  };
  ports("origDport", &c.origDportLo, &c.origDportHi);
  ports("replySport", &c.replySportLo, &c.replySportHi);
  Napi::Value dst = o.Get("origDst");
  if (!dst.IsUndefined()) {
    ParseCidr(env, op, "origDst", c.family, dst, c.origDst, &c.origDstLen);
    c.hasOrigDst = true;
  }
  Napi::Value src = o.Get("replySrc");
  if (!src.IsUndefined()) {
    ParseAddr(env, op, "replySrc", c.family, ParseString(env, op, "replySrc", src, kMaxAddrBytes), c.replySrc);
    c.hasReplySrc = true;
  }
  Napi::Value dnat = o.Get("dnat");
  if (!dnat.IsUndefined()) {
    if (!dnat.IsBoolean()) ThrowInvalid(env, op, "dnat must be a boolean");
    c.dnat = dnat.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  return c;
}

std::string ParseSysctlKey(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsString()) ThrowInvalid(env, op, "sysctl key must be a string");
  if (Utf8Length(env, v) > kMaxSysctlKeyBytes) ThrowInvalid(env, op, "sysctl key is too long");
  std::string key = v.As<Napi::String>().Utf8Value(), why;
  // ValidSysctlKey allows only [A-Za-z0-9_.-], so no NUL either.
  if (!ValidSysctlKey(key, &why)) ThrowInvalid(env, op, "sysctl key \"" + key + "\": " + why);
  return key;
}

std::string ParseSysctlValue(Napi::Env env, const std::string& op, Napi::Value v) {
  std::string value = ParseString(env, op, "value", v, kMaxSysctlValueBytes);
  if (value.empty() || value.find('\n') != std::string::npos) ThrowInvalid(env, op, "value must be one non-empty line");
  return value;
}

int ParseNftFamily(Napi::Env env, const std::string& op, Napi::Value v) {
  static const std::pair<const char*, int> kFamilies[] = {{"inet", NFPROTO_INET}, {"ip", NFPROTO_IPV4},
                                                          {"ip6", NFPROTO_IPV6},  {"arp", NFPROTO_ARP},
                                                          {"bridge", NFPROTO_BRIDGE}, {"netdev", NFPROTO_NETDEV}};
  if (v.IsString() && Utf8Length(env, v) <= 8) {
    std::string s = v.As<Napi::String>().Utf8Value();
    for (auto& [name, family] : kFamilies)
      if (s == name) return family;
  }
  ThrowInvalid(env, op, "table.family must be inet, ip, ip6, arp, bridge or netdev");
}

std::string ParseNftInput(Napi::Env env, const std::string& op, Napi::Value v) {
  return ParseString(env, op, "command", v, kMaxNftInputBytes);
}

std::vector<unsigned> ParseNotifyGroups(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsArray()) ThrowInvalid(env, op, "groups must be an array");
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() == 0) ThrowInvalid(env, op, "groups must not be empty");
  if (arr.Length() > kMaxNotifyGroups) ThrowInvalid(env, op, "groups must have at most 31 entries");
  std::vector<unsigned> groups;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    uint32_t g = ParseU32(env, op, "group", arr.Get(i), 31);
    if (g == 0) ThrowInvalid(env, op, "group must be 1..31");
    groups.push_back(g);
  }
  return groups;
}

std::vector<BatchStep> ParseBatchSteps(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsArray()) ThrowInvalid(env, op, "steps must be an array");
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > kMaxBatchSteps) ThrowInvalid(env, op, "more than " + std::to_string(kMaxBatchSteps) + " steps");
  std::vector<BatchStep> steps;
  steps.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value sv = arr.Get(i);
    if (!sv.IsObject() || !sv.As<Napi::Object>().Get("op").IsString()) ThrowInvalid(env, op, "each step needs an op");
    Napi::Object o = sv.As<Napi::Object>();
    BatchStep st;
    st.op = ParseString(env, op, "op", o.Get("op"), 32);
    const std::string& name = st.op;
    if (name == "sysctlGet") {
      st.kind = BatchStep::kSysctlGet;
      st.key = ParseSysctlKey(env, name, o.Get("key"));
    } else if (name == "sysctlSet") {
      st.kind = BatchStep::kSysctlSet;
      st.key = ParseSysctlKey(env, name, o.Get("key"));
      st.value = ParseSysctlValue(env, name, o.Get("value"));
    } else if (name == "routeReplace" || name == "routeDel") {
      st.kind = name == "routeReplace" ? BatchStep::kRouteReplace : BatchStep::kRouteDel;
      st.route = ParseRoute(env, name, o.Get("route"));
    } else if (name == "routeList") {
      st.kind = BatchStep::kRouteList;
      st.filter = ParseRouteFilter(env, name, o.Get("filter"));
    } else if (name == "ruleAdd" || name == "ruleDel") {
      st.kind = name == "ruleAdd" ? BatchStep::kRuleAdd : BatchStep::kRuleDel;
      st.rule = ParseRule(env, name, o.Get("rule"));
    } else if (name == "ruleList") {
      st.kind = BatchStep::kRuleList;
      st.ruleFilter = ParseRuleFilter(env, name, o.Get("filter"));
    } else if (name == "conntrackDelete") {
      st.kind = BatchStep::kConntrackDelete;
      st.ct = ParseCtFilter(env, name, o.Get("filter"));
    } else if (name == "nftTableRead") {
      st.kind = BatchStep::kNftTableRead;
      Napi::Value table = o.Get("table");
      if (!table.IsObject()) ThrowInvalid(env, name, "table must be {family, name}");
      st.nftFamily = ParseNftFamily(env, name, table.As<Napi::Object>().Get("family"));
      st.nftTable = ParseString(env, name, "table.name", table.As<Napi::Object>().Get("name"), 255);
      if (st.nftTable.empty()) ThrowInvalid(env, name, "table.name must not be empty");
      Napi::Value expect = o.Get("expect");
      if (!expect.IsUndefined()) {
        st.hasExpect = true;
        st.expect = ParseString(env, name, "expect", expect, kMaxNftInputBytes);
      }
      Napi::Value hashes = o.Get("expectHashes");
      if (!hashes.IsUndefined()) {
        st.hasExpectHashes = true;
        st.expectHashes = ParseString(env, name, "expectHashes", hashes, kMaxNftInputBytes);
      }
    } else {
      ThrowInvalid(env, op, "unknown op \"" + name + "\"");
    }
    steps.push_back(std::move(st));
  }
  return steps;
}

}  // namespace twine
