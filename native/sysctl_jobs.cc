// Jobs reading and writing one sysctl of the namespace (/proc/sys/net; the
// forwarding keys are read over rtnetlink, see SysctlRead).
#include <utility>

#include "args.h"
#include "exports.h"
#include "sysctl.h"

namespace twine {

namespace {

class SysctlGetJob : public Job {
 public:
  SysctlGetJob(Napi::Env env, Target t, std::string key) : Job(env, "sysctlGet", std::move(t)), key_(std::move(key)) {}
  void Execute() override {
    Rtnl nl;  // opened only for a key that netconf answers
    SysctlRead(nl, key_, &value_, failure());
  }
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

}  // namespace

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

}  // namespace twine
