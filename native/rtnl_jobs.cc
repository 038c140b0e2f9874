// Jobs over one rtnetlink socket: route changes, and route, link and address dumps.
#include <utility>
#include <vector>

#include "args.h"
#include "exports.h"
#include "rtnl.h"
#include "values.h"

namespace twine {

namespace {

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
  Napi::Value Result(Napi::Env env) override { return LinksToJs(env, links_); }

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
  Napi::Value Result(Napi::Env env) override { return AddrsToJs(env, addrs_); }

 private:
  std::vector<AddrEntry> addrs_;
};

Napi::Value RouteModify(const Napi::CallbackInfo& info, RouteCmd cmd, const char* op) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, op, info[0]);
  RouteSpec r = ParseRoute(env, op, info[1]);
  return Submit(env, new RouteModifyJob(env, op, std::move(t), cmd, std::move(r)));
}

}  // namespace

Napi::Value RouteAdd(const Napi::CallbackInfo& info) { return RouteModify(info, RouteCmd::kAdd, "routeAdd"); }
Napi::Value RouteReplace(const Napi::CallbackInfo& info) { return RouteModify(info, RouteCmd::kReplace, "routeReplace"); }
Napi::Value RouteDel(const Napi::CallbackInfo& info) { return RouteModify(info, RouteCmd::kDel, "routeDel"); }

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

}  // namespace twine
