// Entry point of the twine_native addon: argument checks on the main thread,
// jobs for the worker pool, and the conversion of results to JS values.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <malloc.h>
#include <string.h>
#include <napi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <limits>
#include <memory>
#include <new>
#include <stdexcept>

#include "conntrack.h"
#include "job.h"
#include "notify.h"
#include "pool.h"
#include "rtnl.h"
#include "sysctl.h"
#include "watch.h"
#ifdef TWINE_HAVE_NFT
#include "nft.h"
#endif

namespace twine {
namespace {

constexpr int kDefaultThreads = 4;
constexpr int kMaxThreads = 64;
constexpr uint32_t kMaxWatchMs = 10 * 60 * 1000;

struct Addon {
  Pool* pool = nullptr;
  Watches* watches = nullptr;
};

Pool& PoolOf(Napi::Env env) { return *env.GetInstanceData<Addon>()->pool; }
Watches& WatchesOf(Napi::Env env) { return *env.GetInstanceData<Addon>()->watches; }

// ---- argument parsing (main thread) ----

Target ParseTarget(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "target must be {pid}, {path} or {fd}");
  Napi::Object o = v.As<Napi::Object>();
  Target t;
  Napi::Value pid = o.Get("pid"), path = o.Get("path"), fd = o.Get("fd");
  if (fd.IsNumber() && pid.IsUndefined() && path.IsUndefined()) {
    double d = fd.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= std::numeric_limits<int>::max()) || d != static_cast<int>(d))
      ThrowInvalid(env, op, "fd must be a non-negative integer");
    t.fd = static_cast<int>(d);
    Napi::Value name = o.Get("name");
    if (name.IsString()) t.name = name.As<Napi::String>().Utf8Value().substr(0, 256);
    return t;
  }
  if (pid.IsNumber() && path.IsUndefined() && fd.IsUndefined()) {
    double d = pid.As<Napi::Number>().DoubleValue();
    if (!(d >= 1 && d <= std::numeric_limits<int>::max()) || d != static_cast<int>(d))
      ThrowInvalid(env, op, "pid must be a positive integer");
    t.byPid = true;
    t.pid = static_cast<int>(d);
    return t;
  }
  if (path.IsString() && pid.IsUndefined() && fd.IsUndefined()) {
    t.path = path.As<Napi::String>().Utf8Value();
    if (t.path.empty() || t.path[0] != '/' || t.path.find('\0') != std::string::npos)
      ThrowInvalid(env, op, "path must be absolute");
    return t;
  }
  ThrowInvalid(env, op, "target must be {pid}, {path} or {fd}");
}

int ParseFamily(Napi::Env env, const std::string& op, Napi::Value v, bool optional) {
  if (optional && v.IsUndefined()) return 0;
  if (v.IsNumber()) {
    int f = v.As<Napi::Number>().Int32Value();
    if (f == 4) return AF_INET;
    if (f == 6) return AF_INET6;
  }
  ThrowInvalid(env, op, "family must be 4 or 6");
}

uint32_t ParseU32(Napi::Env env, const std::string& op, const char* name, Napi::Value v, uint32_t max) {
  if (!v.IsNumber()) ThrowInvalid(env, op, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowInvalid(env, op, std::string(name) + " must be an integer 0.." + std::to_string(max));
  return static_cast<uint32_t>(d);
}

void ParseAddr(Napi::Env env, const std::string& op, const char* name, int family, const std::string& s, uint8_t* out) {
  if (inet_pton(family, s.c_str(), out) != 1)
    ThrowInvalid(env, op, std::string(name) + " \"" + s + "\" is not an IPv" + (family == AF_INET ? "4" : "6") +
                              " address");
}

RouteSpec ParseRoute(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "route must be an object");
  Napi::Object o = v.As<Napi::Object>();
  RouteSpec r;
  r.family = ParseFamily(env, op, o.Get("family"), false);
  int maxLen = r.family == AF_INET ? 32 : 128;
  Napi::Value dst = o.Get("dst");
  if (!dst.IsString()) ThrowInvalid(env, op, "dst must be a CIDR string");
  std::string cidr = dst.As<Napi::String>().Utf8Value();
  size_t slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  r.dstLen = maxLen;
  if (slash != std::string::npos) {
    std::string len = cidr.substr(slash + 1);
    char* end = nullptr;
    long n = len.empty() ? -1 : strtol(len.c_str(), &end, 10);
    if (n < 0 || n > maxLen || *end != '\0') ThrowInvalid(env, op, "dst \"" + cidr + "\": bad prefix length");
    r.dstLen = static_cast<int>(n);
  }
  ParseAddr(env, op, "dst", r.family, addr, r.dst);
  Napi::Value gw = o.Get("gateway");
  if (!gw.IsUndefined()) {
    if (!gw.IsString()) ThrowInvalid(env, op, "gateway must be a string");
    ParseAddr(env, op, "gateway", r.family, gw.As<Napi::String>().Utf8Value(), r.gateway);
    r.hasGateway = true;
  }
  Napi::Value dev = o.Get("dev");
  if (!dev.IsUndefined()) {
    if (!dev.IsString()) ThrowInvalid(env, op, "dev must be a string");
    r.dev = dev.As<Napi::String>().Utf8Value();
    if (r.dev.empty() || r.dev.size() >= 16 || r.dev.find('/') != std::string::npos ||
        r.dev.find('\0') != std::string::npos)
      ThrowInvalid(env, op, "dev \"" + r.dev + "\" is not an interface name");
  }
  Napi::Value metric = o.Get("metric");
  if (!metric.IsUndefined()) {
    r.metric = ParseU32(env, op, "metric", metric, std::numeric_limits<uint32_t>::max());
    r.hasMetric = true;
  }
  Napi::Value table = o.Get("table");
  if (!table.IsUndefined()) {
    r.table = ParseU32(env, op, "table", table, std::numeric_limits<uint32_t>::max());
    if (r.table == 0) ThrowInvalid(env, op, "table must not be 0");
  }
  Napi::Value proto = o.Get("protocol");
  if (!proto.IsUndefined()) {
    r.protocol = static_cast<uint8_t>(ParseU32(env, op, "protocol", proto, 255));
    r.hasProtocol = true;
  }
  Napi::Value scope = o.Get("scope");
  if (!scope.IsUndefined()) {
    r.scope = static_cast<uint8_t>(ParseU32(env, op, "scope", scope, 255));
    r.hasScope = true;
  }
  Napi::Value type = o.Get("type");
  if (!type.IsUndefined()) {
    if (!type.IsString() || !ParseRouteType(type.As<Napi::String>().Utf8Value(), &r.type))
      ThrowInvalid(env, op, "type must be unicast, unreachable, blackhole or prohibit");
  }
  return r;
}

std::string ParseSysctlKey(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsString()) ThrowInvalid(env, op, "sysctl key must be a string");
  std::string key = v.As<Napi::String>().Utf8Value(), why;
  if (!ValidSysctlKey(key, &why)) ThrowInvalid(env, op, "sysctl key \"" + key + "\": " + why);
  return key;
}

RouteFilterSpec ParseRouteFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  RouteFilterSpec f;
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    f.family = ParseFamily(env, op, o.Get("family"), true);
    if (!o.Get("table").IsUndefined())
      f.table = ParseU32(env, op, "table", o.Get("table"), std::numeric_limits<uint32_t>::max());
    if (!o.Get("protocol").IsUndefined())
      f.protocol = static_cast<int>(ParseU32(env, op, "protocol", o.Get("protocol"), 255));
  } else if (!v.IsUndefined()) {
    ThrowInvalid(env, op, "filter must be an object");
  }
  return f;
}

RuleSpec ParseRule(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "rule must be an object");
  Napi::Object o = v.As<Napi::Object>();
  RuleSpec r;
  r.family = ParseFamily(env, op, o.Get("family"), false);
  r.priority = ParseU32(env, op, "priority", o.Get("priority"), std::numeric_limits<uint32_t>::max());
  r.table = ParseU32(env, op, "table", o.Get("table"), std::numeric_limits<uint32_t>::max());
  if (r.table == 0) ThrowInvalid(env, op, "table must not be 0");
  if (!o.Get("fwmark").IsUndefined()) {
    r.fwmark = ParseU32(env, op, "fwmark", o.Get("fwmark"), std::numeric_limits<uint32_t>::max());
    r.hasFwmark = true;
    if (!o.Get("fwmask").IsUndefined())
      r.fwmask = ParseU32(env, op, "fwmask", o.Get("fwmask"), std::numeric_limits<uint32_t>::max());
  }
  if (!o.Get("protocol").IsUndefined()) {
    r.protocol = static_cast<uint8_t>(ParseU32(env, op, "protocol", o.Get("protocol"), 255));
    r.hasProtocol = true;
  }
  return r;
}

RuleFilterSpec ParseRuleFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  RuleFilterSpec f;
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    f.family = ParseFamily(env, op, o.Get("family"), true);
    if (!o.Get("protocol").IsUndefined())
      f.protocol = static_cast<int>(ParseU32(env, op, "protocol", o.Get("protocol"), 255));
  } else if (!v.IsUndefined()) {
    ThrowInvalid(env, op, "filter must be an object");
  }
  return f;
}

// {family, proto?: 'tcp'|'udp', origDst?: cidr, origDport?: [lo, hi], replySrc?: ip, replySport?: [lo, hi], dnat?: boolean}
CtFilter ParseCtFilter(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "filter must be an object");
  Napi::Object o = v.As<Napi::Object>();
  CtFilter c;
  c.family = ParseFamily(env, op, o.Get("family"), false);
  Napi::Value proto = o.Get("proto");
  if (!proto.IsUndefined()) {
    std::string p = proto.IsString() ? proto.As<Napi::String>().Utf8Value() : "";
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
    RouteSpec r;  // the same CIDR syntax as a route's dst
    Napi::Object tmp = Napi::Object::New(env);
    tmp.Set("family", o.Get("family"));
    tmp.Set("dst", dst);
    r = ParseRoute(env, op, tmp);
    memcpy(c.origDst, r.dst, sizeof c.origDst);
    c.origDstLen = r.dstLen;
    c.hasOrigDst = true;
  }
  Napi::Value src = o.Get("replySrc");
  if (!src.IsUndefined()) {
    if (!src.IsString()) ThrowInvalid(env, op, "replySrc must be a string");
    ParseAddr(env, op, "replySrc", c.family, src.As<Napi::String>().Utf8Value(), c.replySrc);
    c.hasReplySrc = true;
  }
  Napi::Value dnat = o.Get("dnat");
  if (!dnat.IsUndefined()) {
    if (!dnat.IsBoolean()) ThrowInvalid(env, op, "dnat must be a boolean");
    c.dnat = dnat.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  return c;
}

std::string ParseSysctlValue(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsString()) ThrowInvalid(env, op, "value must be a string");
  std::string value = v.As<Napi::String>().Utf8Value();
  if (value.empty() || value.size() > 1024 || value.find_first_of(std::string("\n\0", 2)) != std::string::npos)
    ThrowInvalid(env, op, "value must be one non-empty line");
  return value;
}

// ---- jobs ----

class RouteModifyJob : public Job {
 public:
  RouteModifyJob(Napi::Env env, std::string op, Target t, RouteCmd cmd, RouteSpec r)
      : Job(env, std::move(op), std::move(t)), cmd_(cmd), route_(std::move(r)) {}
  void Execute() override {
    Rtnl nl;
    if (nl.Open(failure())) nl.RouteModify(cmd_, route_, failure());
  }

 private:
  RouteCmd cmd_;
  RouteSpec route_;
};

Napi::Number Family(Napi::Env env, int af) { return Napi::Number::New(env, af == AF_INET ? 4 : 6); }

Napi::Array RoutesToJs(Napi::Env env, const std::vector<RouteEntry>& routes) {
  Napi::Array arr = Napi::Array::New(env, routes.size());
  for (size_t i = 0; i < routes.size(); i++) {
    const RouteEntry& r = routes[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", Family(env, r.family));
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
    o.Set("family", Family(env, r.family));
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

class RouteListJob : public Job {
 public:
  RouteListJob(Napi::Env env, Target t, RouteFilterSpec f) : Job(env, "routeList", std::move(t)), filter_(f) {}
  void Execute() override {
    Rtnl nl;
    if (nl.Open(failure())) nl.RouteDump(filter_, &routes_, failure());
  }
  Napi::Value Result(Napi::Env env) override { return RoutesToJs(env, routes_); }

 private:
  RouteFilterSpec filter_;
  std::vector<RouteEntry> routes_;
};

class LinkListJob : public Job {
 public:
  LinkListJob(Napi::Env env, Target t) : Job(env, "linkList", std::move(t)) {}
  void Execute() override {
    Rtnl nl;
    if (nl.Open(failure())) nl.LinkDump(&links_, failure());
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array arr = Napi::Array::New(env, links_.size());
    for (size_t i = 0; i < links_.size(); i++) {
      const LinkEntry& l = links_[i];
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

 private:
  std::vector<LinkEntry> links_;
};

class AddrListJob : public Job {
 public:
  AddrListJob(Napi::Env env, Target t) : Job(env, "addrList", std::move(t)) {}
  void Execute() override {
    Rtnl nl;
    if (nl.Open(failure())) nl.AddrDump(&addrs_, failure());
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array arr = Napi::Array::New(env, addrs_.size());
    for (size_t i = 0; i < addrs_.size(); i++) {
      const AddrEntry& a = addrs_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("ifindex", Napi::Number::New(env, a.ifindex));
      o.Set("ifname", a.ifname);
      o.Set("family", Family(env, a.family));
      o.Set("address", a.address);
      o.Set("prefixlen", Napi::Number::New(env, a.prefixlen));
      arr.Set(i, o);
    }
    return arr;
  }

 private:
  std::vector<AddrEntry> addrs_;
};

class SysctlGetJob : public Job {
 public:
  SysctlGetJob(Napi::Env env, Target t, std::string key) : Job(env, "sysctlGet", std::move(t)), key_(std::move(key)) {}
  void Execute() override { SysctlGet(key_, &value_, failure()); }
  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, value_); }

 private:
  std::string key_, value_;
};

class SysctlSetJob : public Job {
 public:
  SysctlSetJob(Napi::Env env, Target t, std::string key, std::string value)
      : Job(env, "sysctlSet", std::move(t)), key_(std::move(key)), value_(std::move(value)) {}
  void Execute() override { SysctlSet(key_, value_, failure()); }

 private:
  std::string key_, value_;
};

// Route and sysctl operations run in order in one entry into the namespace,
// over one netlink socket, stopping at the first failure; the main thread
// wakes once for all of them. What ran is reported even when a step failed
// (the caller needs the sysctl values read before it to roll back).
struct BatchStep {
  enum Kind { kSysctlGet, kSysctlSet, kRouteReplace, kRouteDel, kRouteList, kRuleAdd, kRuleDel, kRuleList, kConntrackDelete } kind;
  std::string op;  // as JS named it, for the error
  std::string key, value;
  RouteSpec route;
  RouteFilterSpec filter;
  RuleSpec rule;
  RuleFilterSpec ruleFilter;
  CtFilter ct;
};

class BatchJob : public Job {
 public:
  BatchJob(Napi::Env env, Target t, std::vector<BatchStep> steps)
      : Job(env, "batch", std::move(t)),
        steps_(std::move(steps)),
        values_(steps_.size()),
        routes_(steps_.size()),
        rules_(steps_.size()),
        counts_(steps_.size()) {}

  void Execute() override {
    Rtnl nl;
    bool open = false;
    for (size_t i = 0; i < steps_.size(); i++) {
      const BatchStep& st = steps_[i];
      Failure& f = stepFailure_;
      bool netlink = st.kind == BatchStep::kRouteReplace || st.kind == BatchStep::kRouteDel || st.kind == BatchStep::kRouteList ||
                     st.kind == BatchStep::kRuleAdd || st.kind == BatchStep::kRuleDel || st.kind == BatchStep::kRuleList;
      if (netlink && !open) open = nl.Open(f);
      if (f.failed()) {
        failedAt_ = static_cast<int>(i);
        return;
      }
      switch (st.kind) {
        case BatchStep::kSysctlGet: SysctlGet(st.key, &values_[i], f); break;
        case BatchStep::kSysctlSet: SysctlSet(st.key, st.value, f); break;
        case BatchStep::kRouteReplace: nl.RouteModify(RouteCmd::kReplace, st.route, f); break;
        case BatchStep::kRouteDel: nl.RouteModify(RouteCmd::kDel, st.route, f); break;
        case BatchStep::kRouteList: nl.RouteDump(st.filter, &routes_[i], f); break;
        case BatchStep::kRuleAdd: nl.RuleModify(true, st.rule, f); break;
        case BatchStep::kRuleDel: nl.RuleModify(false, st.rule, f); break;
        case BatchStep::kRuleList: nl.RuleDump(st.ruleFilter, &rules_[i], f); break;
        case BatchStep::kConntrackDelete: ConntrackDelete(st.ct, &counts_[i], f); break;
      }
      if (f.failed()) {
        failedAt_ = static_cast<int>(i);
        return;
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    size_t done = failedAt_ < 0 ? steps_.size() : static_cast<size_t>(failedAt_);
    Napi::Array results = Napi::Array::New(env, done);
    for (size_t i = 0; i < done; i++) {
      switch (steps_[i].kind) {
        case BatchStep::kSysctlGet: results.Set(i, Napi::String::New(env, values_[i])); break;
        case BatchStep::kRouteList: results.Set(i, RoutesToJs(env, routes_[i])); break;
        case BatchStep::kRuleList: results.Set(i, RulesToJs(env, rules_[i])); break;
        case BatchStep::kConntrackDelete: results.Set(i, Napi::Number::New(env, counts_[i])); break;
        default: results.Set(i, env.Undefined()); break;
      }
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("results", results);
    if (failedAt_ >= 0) {
      o.Set("failedAt", Napi::Number::New(env, failedAt_));
      o.Set("error", MakeError(env, steps_[failedAt_].op, target().Describe(), stepFailure_).Value());
    }
    return o;
  }

 private:
  std::vector<BatchStep> steps_;
  std::vector<std::string> values_;
  std::vector<std::vector<RouteEntry>> routes_;
  std::vector<std::vector<RuleSpec>> rules_;
  std::vector<uint32_t> counts_;
  Failure stepFailure_;
  int failedAt_ = -1;
};

// ---- exported functions ----

Napi::Value Submit(Napi::Env env, Job* job) {
  Napi::Promise p = job->Promise();
  PoolOf(env).Submit(env, job);
  return p;
}

template <RouteCmd cmd>
Napi::Value RouteModify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = cmd == RouteCmd::kAdd ? "routeAdd" : cmd == RouteCmd::kReplace ? "routeReplace" : "routeDel";
  Target t = ParseTarget(env, op, info[0]);
  RouteSpec r = ParseRoute(env, op, info[1]);
  return Submit(env, new RouteModifyJob(env, op, std::move(t), cmd, std::move(r)));
}

Napi::Value RouteList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "routeList", info[0]);
  RouteFilterSpec f = ParseRouteFilter(env, "routeList", info[1]);
  return Submit(env, new RouteListJob(env, std::move(t), f));
}

Napi::Value LinkList(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info.Env(), "linkList", info[0]);
  return Submit(info.Env(), new LinkListJob(info.Env(), std::move(t)));
}

Napi::Value AddrList(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info.Env(), "addrList", info[0]);
  return Submit(info.Env(), new AddrListJob(info.Env(), std::move(t)));
}

Napi::Value SysctlGetFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "sysctlGet", info[0]);
  std::string key = ParseSysctlKey(env, "sysctlGet", info[1]);
  return Submit(env, new SysctlGetJob(env, std::move(t), std::move(key)));
}

Napi::Value SysctlSetFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "sysctlSet", info[0]);
  std::string key = ParseSysctlKey(env, "sysctlSet", info[1]);
  std::string value = ParseSysctlValue(env, "sysctlSet", info[2]);
  return Submit(env, new SysctlSetJob(env, std::move(t), std::move(key), std::move(value)));
}

// batch(target, [{op: 'sysctlGet', key} | {op: 'sysctlSet', key, value} |
//   {op: 'routeReplace'|'routeDel', route} | {op: 'routeList', filter?}])
Napi::Value Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "batch", info[0]);
  if (!info[1].IsArray()) ThrowInvalid(env, "batch", "steps must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<BatchStep> steps;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject() || !v.As<Napi::Object>().Get("op").IsString()) ThrowInvalid(env, "batch", "each step needs an op");
    Napi::Object o = v.As<Napi::Object>();
    std::string op = o.Get("op").As<Napi::String>().Utf8Value();
    BatchStep st;
    st.op = op;
    if (op == "sysctlGet") {
      st.kind = BatchStep::kSysctlGet;
      st.key = ParseSysctlKey(env, op, o.Get("key"));
    } else if (op == "sysctlSet") {
      st.kind = BatchStep::kSysctlSet;
      st.key = ParseSysctlKey(env, op, o.Get("key"));
      st.value = ParseSysctlValue(env, op, o.Get("value"));
    } else if (op == "routeReplace" || op == "routeDel") {
      st.kind = op == "routeReplace" ? BatchStep::kRouteReplace : BatchStep::kRouteDel;
      st.route = ParseRoute(env, op, o.Get("route"));
    } else if (op == "routeList") {
      st.kind = BatchStep::kRouteList;
      st.filter = ParseRouteFilter(env, op, o.Get("filter"));
    } else if (op == "ruleAdd" || op == "ruleDel") {
      st.kind = op == "ruleAdd" ? BatchStep::kRuleAdd : BatchStep::kRuleDel;
      st.rule = ParseRule(env, op, o.Get("rule"));
    } else if (op == "ruleList") {
      st.kind = BatchStep::kRuleList;
      st.ruleFilter = ParseRuleFilter(env, op, o.Get("filter"));
    } else if (op == "conntrackDelete") {
      st.kind = BatchStep::kConntrackDelete;
      st.ct = ParseCtFilter(env, op, o.Get("filter"));
    } else {
      ThrowInvalid(env, "batch", "unknown op \"" + op + "\"");
    }
    steps.push_back(std::move(st));
  }
  return Submit(env, new BatchJob(env, std::move(t), std::move(steps)));
}

// nft's family names → NFPROTO_*.
int ParseNftFamily(Napi::Env env, const std::string& op, Napi::Value v) {
  static const std::pair<const char*, int> kFamilies[] = {{"inet", NFPROTO_INET}, {"ip", NFPROTO_IPV4},
                                                          {"ip6", NFPROTO_IPV6},  {"arp", NFPROTO_ARP},
                                                          {"bridge", NFPROTO_BRIDGE}, {"netdev", NFPROTO_NETDEV}};
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    for (auto& [name, family] : kFamilies)
      if (s == name) return family;
  }
  ThrowInvalid(env, op, "table.family must be inet, ip, ip6, arp, bridge or netdev");
}

WatchSpec ParseWatchSpec(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "spec must be an object");
  Napi::Object o = v.As<Napi::Object>();
  WatchSpec w;
  Napi::Value route = o.Get("route");
  if (!route.IsUndefined()) {
    w.route = ParseRoute(env, op, route);
    for (const char* key : {"dev", "metric", "scope"})
      if (!route.As<Napi::Object>().Get(key).IsUndefined())
        ThrowInvalid(env, op, std::string("route.") + key + " is not matched by a watch");
    w.wantRoute = true;
  }
  Napi::Value table = o.Get("table");
  if (!table.IsUndefined()) {
    if (!table.IsObject()) ThrowInvalid(env, op, "table must be {family, name}");
    Napi::Object t = table.As<Napi::Object>();
    w.tableFamily = ParseNftFamily(env, op, t.Get("family"));
    Napi::Value name = t.Get("name");
    if (!name.IsString()) ThrowInvalid(env, op, "table.name must be a string");
    w.tableName = name.As<Napi::String>().Utf8Value();
    if (w.tableName.empty() || w.tableName.size() > 255 || w.tableName.find('\0') != std::string::npos)
      ThrowInvalid(env, op, "table.name must be 1..255 characters");
    w.wantTable = true;
  }
  if (!w.wantRoute && !w.wantTable) ThrowInvalid(env, op, "spec must name a route, a table or both");
  return w;
}

Napi::Value WatchNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "watchNs", info[0]);
  WatchSpec w = ParseWatchSpec(env, "watchNs", info[1]);
  w.timeoutMs = ParseU32(env, "watchNs", "timeoutMs", info[2], kMaxWatchMs);
  return WatchesOf(env).Start(env, std::move(t), std::move(w));
}

// notifyOpen(target, groups: number[]) → Promise<fd>: rtnetlink groups (RTNLGRP_*).
Napi::Value NotifyOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "notifyOpen", info[0]);
  if (!info[1].IsArray()) ThrowInvalid(env, "notifyOpen", "groups must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<unsigned> groups;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    uint32_t g = ParseU32(env, "notifyOpen", "group", arr.Get(i), 31);
    if (g == 0) ThrowInvalid(env, "notifyOpen", "group must be 1..31");
    groups.push_back(g);
  }
  if (groups.empty()) ThrowInvalid(env, "notifyOpen", "groups must not be empty");
  return Submit(env, NewNotifyOpenJob(env, std::move(t), std::move(groups)));
}

// notifyStart(fd, cb) → {close()}.
Napi::Value NotifyStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd = ParseU32(env, "notifyStart", "fd", info[0], 1u << 30);
  if (!info[1].IsFunction()) ThrowInvalid(env, "notifyStart", "callback must be a function");
  return StartNotifier(env, static_cast<int>(fd), info[1].As<Napi::Function>());
}

#ifdef TWINE_HAVE_NFT
Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "nftRun", info[0]);
  if (!info[1].IsString()) ThrowInvalid(env, "nftRun", "command must be a string");
  std::string text = info[1].As<Napi::String>().Utf8Value();
  if (text.find('\0') != std::string::npos) ThrowInvalid(env, "nftRun", "command contains NUL");
  return Submit(env, NewNftJob(env, std::move(t), std::move(text)));
}
#endif

// Hands memory that freed allocations left in glibc's arenas back to the kernel.
// libnftables contexts and netlink buffers are allocated and freed on the worker
// threads; glibc keeps what they freed in per-thread arenas until told otherwise,
// which after a few thousand transactions is tens of MB of resident memory.
// CLOCK_REALTIME in ms with the fraction: Docker stamps events with it, and
// V8's Date.now() is whole (and unevenly ticking) milliseconds.
Napi::Value RealtimeMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool& pool = PoolOf(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", Napi::Number::New(env, pool.size()));
  o.Set("retired", Napi::Number::New(env, pool.retired()));
  o.Set("homeInode", Napi::Number::New(env, static_cast<double>(pool.home_inode())));
#ifdef TWINE_HAVE_NFT
  o.Set("nftContextsHeld", Napi::Number::New(env, static_cast<double>(NftContextsHeld())));
#endif
  return o;
}

#ifdef TWINE_TEST_EXPORTS
// Test builds only (scripts/build-asan.mjs): the message parsers on arbitrary
// bytes, copied into a buffer of exactly their size so that AddressSanitizer
// sees any read past the end. Returns what each message parsed to.
Napi::Value TestParseNetlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowInvalid(env, "testParseNetlink", "expects a Buffer");
  auto in = info[0].As<Napi::Buffer<char>>();
  // new[] memory is aligned for nlmsghdr, as a receive buffer is.
  std::unique_ptr<char[]> exact(new char[in.Length() ? in.Length() : 1]);
  char* buf = exact.get();
  memcpy(buf, in.Data(), in.Length());
  Napi::Array out = Napi::Array::New(env);
  int len = static_cast<int>(in.Length());
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", Napi::Number::New(env, h->nlmsg_type));
    RawRoute r;
    if (ParseRouteMsg(h, &r)) {
      o.Set("route", Napi::Number::New(env, r.dstLen));
      o.Set("table", Napi::Number::New(env, r.table));
      o.Set("oif", Napi::Number::New(env, r.oif));
    }
    LinkEntry l;
    if (ParseLinkMsg(h, &l)) {
      o.Set("link", l.name);
      o.Set("mtu", Napi::Number::New(env, l.mtu));
      o.Set("mac", l.mac);
      o.Set("kind", l.kind);
    }
    AddrEntry a;
    if (ParseAddrMsg(h, &a)) o.Set("addr", a.address);
    if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
      o.Set("error", Napi::Number::New(env, NetlinkErrorOf(h)));
      o.Set("ack", ExtAckMessage(h));
    }
    out.Set(out.Length(), o);
  }
  return out;
}

// Test builds only: a receive on a fresh rtnetlink socket to which nothing was
// sent, with a receive timeout of ms; returns the error code it failed with.
Napi::Value TestRecvTimeout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ms = static_cast<int>(ParseU32(env, "testRecvTimeout", "ms", info[0], 10000));
  Rtnl nl;
  Failure f;
  std::vector<char> buf(4096);
  if (nl.Open(f, ms)) nl.Recv(buf, f);
  return Napi::String::New(env, f.failed() ? ErrnoCode(f.err) : "received");
}
#endif

#ifdef TWINE_TEST_EXPORTS
// Test builds only: a job that throws inside the target namespace (bad_alloc,
// or a std::runtime_error for "other"), to show the catch-all and the restore.
class ThrowJob : public Job {
 public:
  ThrowJob(Napi::Env env, Target t, bool badAlloc) : Job(env, "testThrow", std::move(t)), badAlloc_(badAlloc) {}
  void Execute() override {
    if (badAlloc_) throw std::bad_alloc();
    throw std::runtime_error("test exception");
  }

 private:
  bool badAlloc_;
};

Napi::Value TestThrow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "testThrow", info[0]);
  return Submit(env, new ThrowJob(env, std::move(t), info[1].ToBoolean().Value()));
}
#endif

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "twine-native 0.2"); }

int ThreadCount() {
  const char* s = getenv("TWINE_NETNS_THREADS");
  int n = s ? atoi(s) : kDefaultThreads;
  return n < 1 ? 1 : n > kMaxThreads ? kMaxThreads : n;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new Addon();
  addon->pool = new Pool(env, ThreadCount());
  addon->watches = new Watches(env);
  env.SetInstanceData(addon);
  // After both thread-safe functions exist: hooks run in reverse order, so
  // the threads are stopped before Node tears those functions down.
  env.AddCleanupHook([addon] {
    addon->watches->Stop();
    addon->pool->Stop();
  });

  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim));
  exports.Set("realtimeMs", Napi::Function::New(env, RealtimeMs));
  exports.Set("routeList", Napi::Function::New(env, RouteList));
  exports.Set("routeAdd", Napi::Function::New(env, RouteModify<RouteCmd::kAdd>));
  exports.Set("routeReplace", Napi::Function::New(env, RouteModify<RouteCmd::kReplace>));
  exports.Set("routeDel", Napi::Function::New(env, RouteModify<RouteCmd::kDel>));
  exports.Set("linkList", Napi::Function::New(env, LinkList));
  exports.Set("addrList", Napi::Function::New(env, AddrList));
  exports.Set("sysctlGet", Napi::Function::New(env, SysctlGetFn));
  exports.Set("sysctlSet", Napi::Function::New(env, SysctlSetFn));
  exports.Set("batch", Napi::Function::New(env, Batch));
  exports.Set("watchNs", Napi::Function::New(env, WatchNs));
  exports.Set("notifyOpen", Napi::Function::New(env, NotifyOpen));
  exports.Set("notifyStart", Napi::Function::New(env, NotifyStart));
#ifdef TWINE_TEST_EXPORTS
  exports.Set("testParseNetlink", Napi::Function::New(env, TestParseNetlink));
  exports.Set("testRecvTimeout", Napi::Function::New(env, TestRecvTimeout));
  exports.Set("testThrow", Napi::Function::New(env, TestThrow));
#endif
#ifdef TWINE_HAVE_NFT
  NftInit();
  exports.Set("nftAvailable", Napi::Boolean::New(env, true));
  exports.Set("nftRun", Napi::Function::New(env, NftRun));
#else
  exports.Set("nftAvailable", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace
}  // namespace twine

static Napi::Object InitTwine(Napi::Env env, Napi::Object exports) { return twine::Init(env, exports); }

NODE_API_MODULE(twine_native, InitTwine)
