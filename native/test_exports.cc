// Test builds only (scripts/build-asan.mjs adds this file and defines
// TWINE_TEST_EXPORTS; the production addon never contains it): entry points
// that let test/kernel/native-asan.test.ts drive the parsers and the job
// catch-all directly.
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <thread>
#include <stdexcept>
#include <vector>

#include "args.h"
#include "exports.h"
#include "netlink_socket.h"
#include "nft_read.h"
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
  if (nl.Open(f, ms)) nl.Recv(buf, NetlinkDeadline(ms), f);
  return Napi::String::New(env, f.failed() ? ErrnoCode(f.err) : "received");
}

// RuleExprHash over arbitrary bytes (an NFTA_RULE_EXPRESSIONS payload), copied
// into a buffer of exactly their size: its hash in hex.
Napi::Value TestRuleExprHash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowInvalid(env, "testRuleExprHash", "expects a Buffer");
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  std::unique_ptr<uint8_t[]> exact(new uint8_t[in.Length() ? in.Length() : 1]);
  memcpy(exact.get(), in.Data(), in.Length());
  return Napi::String::New(env, HashHex(RuleExprHash(exact.get(), in.Length())));
}

// A netlink socket that a process of the namespace floods with forged replies
// (an ack and NLMSG_DONE of every sequence number, from its own port) for
// floodMs, while a receive with a deadline of ms waits for the kernel: what it
// failed with and how long it took.
Napi::Value TestForgedReplies(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ms = static_cast<int>(ParseU32(env, "testForgedReplies", "ms", info[0], 10000));
  int floodMs = static_cast<int>(ParseU32(env, "testForgedReplies", "floodMs", info[1], 10000));
  Failure f;
  int victim = OpenNetlink(NETLINK_ROUTE, {}, 0, f);
  int forger = OpenNetlink(NETLINK_ROUTE, {}, 0, f);
  sockaddr_nl at{};
  socklen_t alen = sizeof at;
  if (victim < 0 || forger < 0 || getsockname(victim, reinterpret_cast<sockaddr*>(&at), &alen) != 0) {
    if (victim >= 0) close(victim);
    if (forger >= 0) close(forger);
    return Napi::String::New(env, "setup failed");
  }
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread flood([&] {
    const auto until = NetlinkClock::now() + std::chrono::milliseconds(floodMs);
    alignas(nlmsghdr) char m[NLMSG_SPACE(sizeof(nlmsgerr))] = {};
    auto* h = reinterpret_cast<nlmsghdr*>(m);
    h->nlmsg_len = NLMSG_LENGTH(sizeof(nlmsgerr));
    h->nlmsg_type = NLMSG_ERROR;
    for (uint32_t seq = 0; !stop && NetlinkClock::now() < until; seq++) {
      h->nlmsg_seq = seq % 8;
      if (sendto(forger, m, h->nlmsg_len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&at), sizeof at) > 0) sent++;
    }
  });
  std::vector<char> buf(4096);
  const auto t0 = NetlinkClock::now();
  ssize_t n = RecvFromKernel(victim, buf, NetlinkDeadline(ms), "netlink", f);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(NetlinkClock::now() - t0).count();
  stop = true;
  flood.join();
  close(victim);
  close(forger);
  Napi::Object o = Napi::Object::New(env);
  o.Set("result", n >= 0 ? std::string("received") : ErrnoCode(f.err));
  o.Set("ms", Napi::Number::New(env, static_cast<double>(took)));
  o.Set("sent", Napi::Number::New(env, sent.load()));
  return o;
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
  exports.Set("testRuleExprHash", Napi::Function::New(env, TestRuleExprHash));
  exports.Set("testForgedReplies", Napi::Function::New(env, TestForgedReplies));
  exports.Set("testThrow", Napi::Function::New(env, TestThrow));
}

}  // namespace twine
