// Test builds only (scripts/build-asan.mjs adds this file and defines
// TWINE_TEST_EXPORTS; the production addon never contains it): entry points
// that let test/kernel/native-asan.test.ts drive the parsers and the job
// catch-all directly.
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include "args.h"
#include "exports.h"
#include "rtnl.h"

namespace twine {

namespace {

// The message parsers on arbitrary bytes, copied into a buffer of exactly
// their size so that AddressSanitizer sees any read past the end. Returns
// what each message parsed to.
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
    int32_t forwarding;
    if (ParseNetconfForwarding(h, AF_INET, &forwarding) || ParseNetconfForwarding(h, AF_INET6, &forwarding)) {
      o.Set("forwarding", Napi::Number::New(env, forwarding));
    }
    if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
      o.Set("error", Napi::Number::New(env, NetlinkErrorOf(h)));
      o.Set("ack", ExtAckMessage(h));
    }
    out.Set(out.Length(), o);
  }
  return out;
}

// A receive on a fresh rtnetlink socket to which nothing was sent, with a
// receive timeout of ms; returns the error code it failed with.
Napi::Value TestRecvTimeout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ms = static_cast<int>(ParseU32(env, "testRecvTimeout", "ms", info[0], 10000));
  Rtnl nl;
  Failure f;
  std::vector<char> buf(4096);
  if (nl.Open(f, ms)) nl.Recv(buf, f);
  return Napi::String::New(env, f.failed() ? ErrnoCode(f.err) : "received");
}

// A job that throws inside the target namespace (bad_alloc, or a
// std::runtime_error for "other"), to show the catch-all and the restore.
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

}  // namespace

void RegisterTestExports(Napi::Env env, Napi::Object exports) {
  exports.Set("testParseNetlink", Napi::Function::New(env, TestParseNetlink));
  exports.Set("testRecvTimeout", Napi::Function::New(env, TestRecvTimeout));
  exports.Set("testThrow", Napi::Function::New(env, TestThrow));
}

}  // namespace twine
