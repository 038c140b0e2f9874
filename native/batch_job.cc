// A batch: route, rule, sysctl, conntrack and nft table-read steps run in order in one entry
// into the namespace, over one netlink socket, stopping at the first failure;
// the main thread wakes once for all of them. What ran is reported even when
// a step failed (the caller needs the sysctl values read before it to roll back).
#include <utility>
#include <vector>

#include "args.h"
#include "conntrack.h"
#include "exports.h"
#include "nft_read.h"
#include "rtnl.h"
#include "sysctl.h"
#include "values.h"

namespace twine {

namespace {

bool UsesNetlink(BatchStep::Kind k) {
  return k == BatchStep::kRouteReplace || k == BatchStep::kRouteDel || k == BatchStep::kRouteList ||
         k == BatchStep::kRuleAdd || k == BatchStep::kRuleDel || k == BatchStep::kRuleList;
}

class BatchJob : public Job {
 public:
  BatchJob(Napi::Env env, Target t, std::vector<BatchStep> steps)
      : Job(env, "batch", std::move(t)),
        steps_(std::move(steps)),
        values_(steps_.size()),
        routes_(steps_.size()),
        rules_(steps_.size()),
        counts_(steps_.size()),
        tables_(steps_.size()),
        inSync_(steps_.size()) {}

  void Execute() override {
    Rtnl nl;
    for (size_t i = 0; i < steps_.size(); i++) {
      const BatchStep& st = steps_[i];
      Failure& f = stepFailure_;
      if (UsesNetlink(st.kind) && !nl.IsOpen()) nl.Open(f);
      if (f.failed()) {
        failedAt_ = static_cast<int>(i);
        return;
      }
      switch (st.kind) {
        // Over the batch's socket when the key is a netconf one (sysctl.h).
        case BatchStep::kSysctlGet: SysctlRead(nl, st.key, &values_[i], f); break;
        case BatchStep::kSysctlSet: SysctlSet(st.key, st.value, f); break;
        case BatchStep::kRouteReplace: nl.RouteModify(RouteCmd::kReplace, st.route, f); break;
        case BatchStep::kRouteDel: nl.RouteModify(RouteCmd::kDel, st.route, f); break;
        case BatchStep::kRouteList: nl.RouteDump(st.filter, &routes_[i], f); break;
        case BatchStep::kRuleAdd: nl.RuleModify(true, st.rule, f); break;
        case BatchStep::kRuleDel: nl.RuleModify(false, st.rule, f); break;
        case BatchStep::kRuleList: nl.RuleDump(st.ruleFilter, &rules_[i], f); break;
        case BatchStep::kConntrackDelete: ConntrackDelete(st.ct, &counts_[i], f); break;
        case BatchStep::kNftTableRead: ReadTable(i, f); break;
      }
      if (f.failed()) {
        failedAt_ = static_cast<int>(i);
        return;
      }
    }
  }

  // The table, or only whether it is the expected one: `true` when its names
  // and its rules' hashes are the expected ones; its hashes (a string) when
  // the names are and no hashes were given; else the table itself.
  void ReadTable(size_t i, Failure& f) {
    const BatchStep& st = steps_[i];
    NftTableState& t = tables_[i];
    if (!NftReadTable(st.nftFamily, st.nftTable, &t, f) || !st.hasExpect || !t.exists || NftTableSignature(t) != st.expect) return;
    std::string hashes = NftTableHashes(t);
    if (st.hasExpectHashes && hashes != st.expectHashes) return;
    inSync_[i] = st.hasExpectHashes ? kInSync : kNamesInSync;
    if (!st.hasExpectHashes) values_[i] = std::move(hashes);
    t = NftTableState{};
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
        case BatchStep::kNftTableRead:
          if (inSync_[i] == kInSync) results.Set(i, Napi::Boolean::New(env, true));
          else if (inSync_[i] == kNamesInSync) results.Set(i, Napi::String::New(env, values_[i]));
          else results.Set(i, NftTableToJs(env, tables_[i]));
          break;
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
  std::vector<NftTableState> tables_;
  static constexpr char kInSync = 1, kNamesInSync = 2;
  std::vector<char> inSync_;  // kNftTableRead: the table was the expected one (kInSync), or its names were
  Failure stepFailure_;
  int failedAt_ = -1;
};

}  // namespace

Napi::Value Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t = ParseTarget(env, "batch", info[0]);
  std::vector<BatchStep> steps = ParseBatchSteps(env, "batch", info[1]);
  return Submit(env, new BatchJob(env, std::move(t), std::move(steps)));
}

}  // namespace twine
