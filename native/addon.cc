// Entry point of the twine_native addon: argument checks on the main thread,
// jobs for the worker pool, and the conversion of results to JS values.
#include <arpa/inet.h>
#include <malloc.h>
#include <napi.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <limits>

#include "job.h"
#include "pool.h"
#include "rtnl.h"
#include "sysctl.h"
#ifdef TWINE_HAVE_NFT
#include "nft.h"
#endif

namespace twine {
namespace {

constexpr int kDefaultThreads = 4;
constexpr int kMaxThreads = 64;

struct Addon {
  Pool* pool = nullptr;
};

Pool& PoolOf(Napi::Env env) { return *env.GetInstanceData<Addon>()->pool; }

// ---- argument parsing (main thread) ----

Target ParseTarget(Napi::Env env, const std::string& op, Napi::Value v) {
  if (!v.IsObject()) ThrowInvalid(env, op, "target must be {pid} or {path}");
  Napi::Object o = v.As<Napi::Object>();
  Target t;
  Napi::Value pid = o.Get("pid"), path = o.Get("path");
  if (pid.IsNumber() && path.IsUndefined()) {
    double d = pid.As<Napi::Number>().DoubleValue();
    if (!(d >= 1 && d <= std::numeric_limits<int>::max()) || d != static_cast<int>(d))
      ThrowInvalid(env, op, "pid must be a positive integer");
    t.byPid = true;
    t.pid = static_cast<int>(d);
    return t;
  }
  if (path.IsString() && pid.IsUndefined()) {
    t.path = path.As<Napi::String>().Utf8Value();
    if (t.path.empty() || t.path[0] != '/' || t.path.find('\0') != std::string::npos)
      ThrowInvalid(env, op, "path must be absolute");
    return t;
  }
  ThrowInvalid(env, op, "target must be {pid} or {path}");
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

class RouteListJob : public Job {
 public:
  RouteListJob(Napi::Env env, Target t, RouteFilterSpec f) : Job(env, "routeList", std::move(t)), filter_(f) {}
  void Execute() override {
    Rtnl nl;
    if (nl.Open(failure())) nl.RouteDump(filter_, &routes_, failure());
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array arr = Napi::Array::New(env, routes_.size());
    for (size_t i = 0; i < routes_.size(); i++) {
      const RouteEntry& r = routes_[i];
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
  RouteFilterSpec f;
  if (info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    f.family = ParseFamily(env, "routeList", o.Get("family"), true);
    if (!o.Get("table").IsUndefined())
      f.table = ParseU32(env, "routeList", "table", o.Get("table"), std::numeric_limits<uint32_t>::max());
    if (!o.Get("protocol").IsUndefined())
      f.protocol = static_cast<int>(ParseU32(env, "routeList", "protocol", o.Get("protocol"), 255));
  } else if (!info[1].IsUndefined()) {
    ThrowInvalid(env, "routeList", "filter must be an object");
  }
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
  if (!info[2].IsString()) ThrowInvalid(env, "sysctlSet", "value must be a string");
  std::string value = info[2].As<Napi::String>().Utf8Value();
  if (value.empty() || value.size() > 1024 || value.find_first_of(std::string("\n\0", 2)) != std::string::npos)
    ThrowInvalid(env, "sysctlSet", "value must be one non-empty line");
  return Submit(env, new SysctlSetJob(env, std::move(t), std::move(key), std::move(value)));
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

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "twine-native 0.2"); }

int ThreadCount() {
  const char* s = getenv("TWINE_NETNS_THREADS");
  int n = s ? atoi(s) : kDefaultThreads;
  return n < 1 ? 1 : n > kMaxThreads ? kMaxThreads : n;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new Addon();
  addon->pool = new Pool(env, ThreadCount());
  env.SetInstanceData(addon);
  env.AddCleanupHook([addon] { addon->pool->Stop(); });

  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim));
  exports.Set("routeList", Napi::Function::New(env, RouteList));
  exports.Set("routeAdd", Napi::Function::New(env, RouteModify<RouteCmd::kAdd>));
  exports.Set("routeReplace", Napi::Function::New(env, RouteModify<RouteCmd::kReplace>));
  exports.Set("routeDel", Napi::Function::New(env, RouteModify<RouteCmd::kDel>));
  exports.Set("linkList", Napi::Function::New(env, LinkList));
  exports.Set("addrList", Napi::Function::New(env, AddrList));
  exports.Set("sysctlGet", Napi::Function::New(env, SysctlGetFn));
  exports.Set("sysctlSet", Napi::Function::New(env, SysctlSetFn));
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
