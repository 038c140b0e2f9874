#include "watch.h"

#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <system_error>
#include <thread>
#include <vector>

#include "../netlink_socket.h"
#include "../nsguard.h"

namespace twine {

namespace {

constexpr size_t kRecvSize = 64 * 1024;
// Room for a burst of notifications (an nft batch announces every rule)
// before the socket overruns. TWINE_WATCH_RCVBUF overrides it (tests use a
// tiny one to make the kernel report an overrun).
constexpr int kRcvBuf = 1 << 20;

int RcvBufFromEnv() {
  const char* s = getenv("TWINE_WATCH_RCVBUF");
  int n = s ? atoi(s) : 0;
  return n > 0 ? n : kRcvBuf;
}

double RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint16_t NftType(int msg) { return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg); }

bool PrefixEqual(const uint8_t* a, const uint8_t* b, int bits) {
  int bytes = bits / 8, rest = bits % 8;
  if (memcmp(a, b, bytes) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

// An RTM_NEWROUTE (notification or dump reply) for the route the spec describes.
bool RouteMatches(const nlmsghdr* h, const RouteSpec& s) {
  RawRoute r;
  if (!ParseRouteMsg(h, &r)) return false;
  if (r.family != s.family || r.dstLen != s.dstLen || (r.flags & RTM_F_CLONED)) return false;
  if (r.type != RouteTypeToKernel(s.type)) return false;
  if (s.hasProtocol && r.protocol != s.protocol) return false;
  if (r.table != s.table) return false;
  if (s.dstLen > 0 && (!r.hasDst || !PrefixEqual(r.dst, s.dst, s.dstLen))) return false;
  if (s.hasGateway && (!r.hasGateway || memcmp(r.gateway, s.gateway, r.family == AF_INET ? 4 : 16) != 0)) return false;
  return true;
}

// NFT_MSG_NEWTABLE (notification or get reply) for that table.
bool TableMatches(const nlmsghdr* h, int family, const std::string& name) {
  if (h->nlmsg_type != NftType(NFT_MSG_NEWTABLE) || h->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return false;
  const auto* g = static_cast<const nfgenmsg*>(NLMSG_DATA(h));
  if (g->nfgen_family != family) return false;
  const char* start = static_cast<const char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(nfgenmsg));
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg))));
  for (auto* a = reinterpret_cast<const rtattr*>(start); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if ((a->rta_type & NLA_TYPE_MASK) != NFTA_TABLE_NAME) continue;
    const char* s = static_cast<const char*>(RTA_DATA(a));
    return std::string(s, strnlen(s, RTA_PAYLOAD(a))) == name;
  }
  return false;
}

// How a part of the watch was first seen.
enum class SeenBy { kNot, kCheck, kNotification, kRecheck };

const char* SeenByName(SeenBy s) {
  switch (s) {
    case SeenBy::kCheck: return "check";
    case SeenBy::kNotification: return "notification";
    case SeenBy::kRecheck: return "recheck";
    case SeenBy::kNot: break;
  }
  return "";
}

}  // namespace

class WatchJob : public Job {
 public:
  WatchJob(Napi::Env env, Target target, WatchSpec spec)
      : Job(env, "watchNs", std::move(target)), spec_(std::move(spec)) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) failure().Set(errno, "watch", "eventfd");
  }
  ~WatchJob() override {
    for (int fd : {wake_fd_, route_fd_, table_fd_, table_query_fd_})
      if (fd >= 0) close(fd);
  }

  // Any thread: ends the wait early (at teardown). Adding 1 to an eventfd
  // counter that is at most a handful cannot fail.
  void Wake() {
    uint64_t one = 1;
    ssize_t written = write(wake_fd_, &one, sizeof one);
    (void)written;
  }

  // The pool's entry point; a watch never runs on the pool (see Watch).
  void Execute() override {}

  // Unlike pool jobs, a watch enters the namespace only to open its sockets
  // (they stay bound to it), then waits at home. A thread that could not get
  // home runs nothing but this watch and then exits, so that is harmless.
  void Watch(NsGuard& guard) {
    // No exception may skip the guard's way home.
    guard.Run(target(), failure(), [this] {
      try {
        OpenSockets();
      } catch (...) {
        failure().Set(ENOMEM, "watch", "cannot open the sockets");
      }
    });
    if (failure().failed()) return;
    subscribed_ms_ = RealtimeMs();
    if (!CheckRoute(SeenBy::kCheck) || !CheckTable(SeenBy::kCheck)) return;
    checked_ms_ = RealtimeMs();
    Wait();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("routeMs", Napi::Number::New(env, route_ms_));
    o.Set("tableMs", Napi::Number::New(env, table_ms_));
    o.Set("subscribedMs", Napi::Number::New(env, subscribed_ms_));
    o.Set("checkedMs", Napi::Number::New(env, checked_ms_));
    if (route_by_ != SeenBy::kNot) o.Set("routeBy", SeenByName(route_by_));
    if (table_by_ != SeenBy::kNot) o.Set("tableBy", SeenByName(table_by_));
    o.Set("overruns", Napi::Number::New(env, overruns_));
    return o;
  }

 private:
  bool RouteDone() const { return !spec_.wantRoute || route_by_ != SeenBy::kNot; }
  bool TableDone() const { return !spec_.wantTable || table_by_ != SeenBy::kNot; }
  void SeeRoute(double when, SeenBy how) {
    route_ms_ = when;
    route_by_ = how;
  }
  void SeeTable(double when, SeenBy how) {
    table_ms_ = when;
    table_by_ = how;
  }

  // Inside the target namespace. Subscribes before anything is checked.
  void OpenSockets() {
    Failure& f = failure();
    if (spec_.wantRoute) {
      unsigned group = spec_.route.family == AF_INET ? RTNLGRP_IPV4_ROUTE : RTNLGRP_IPV6_ROUTE;
      route_fd_ = OpenNetlink(NETLINK_ROUTE, {group}, spec_.rcvBuf, f);
      if (route_fd_ < 0 || !route_query_.Open(f)) return;
    }
    if (spec_.wantTable) {
      table_fd_ = OpenNetlink(NETLINK_NETFILTER, {NFNLGRP_NFTABLES}, spec_.rcvBuf, f);
      if (table_fd_ < 0) return;
      table_query_fd_ = OpenNetlink(NETLINK_NETFILTER, {}, 0, f);
    }
  }

  // Route dump on the query socket; stamps the route at the dump's return.
  bool CheckRoute(SeenBy how) {
    if (RouteDone()) return true;
    bool found = false;
    auto match = [&](const nlmsghdr* h) { found = found || RouteMatches(h, spec_.route); };
    if (!route_query_.RouteDumpRaw(spec_.route.family, match, failure())) return false;
    if (found) SeeRoute(RealtimeMs(), how);
    return true;
  }

  // NFT_MSG_GETTABLE on the query socket: the table, or ENOENT.
  bool CheckTable(SeenBy how) {
    if (TableDone()) return true;
    alignas(nlmsghdr) char req[512] = {};
    auto* h = reinterpret_cast<nlmsghdr*>(req);
    h->nlmsg_type = NftType(NFT_MSG_GETTABLE);
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = ++seq_;
    auto* g = static_cast<nfgenmsg*>(NLMSG_DATA(h));
    g->nfgen_family = static_cast<uint8_t>(spec_.tableFamily);
    g->version = NFNETLINK_V0;
    auto* a = reinterpret_cast<rtattr*>(req + NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg))));
    a->rta_type = NFTA_TABLE_NAME;
    a->rta_len = static_cast<unsigned short>(RTA_LENGTH(spec_.tableName.size() + 1));
    memcpy(RTA_DATA(a), spec_.tableName.c_str(), spec_.tableName.size() + 1);
    h->nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg))) + RTA_ALIGN(a->rta_len);
    if (send(table_query_fd_, req, h->nlmsg_len, 0) < 0) {
      failure().Set(errno, "nft", "send");
      return false;
    }
    std::vector<char> buf(kRecvSize);
    bool found = false;
    for (;;) {
      ssize_t n = recv(table_query_fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) failure().Set(ETIMEDOUT, "nft", "no answer from the kernel");
        else failure().Set(errno, "nft", "recv");
        return false;
      }
      int len = static_cast<int>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
        if (m->nlmsg_seq != seq_) continue;
        if (TableMatches(m, spec_.tableFamily, spec_.tableName)) found = true;
        if (m->nlmsg_type != NLMSG_ERROR) continue;
        int err = NetlinkErrorOf(m);
        if (err != 0 && err != ENOENT) {
          failure().Set(err, "nft", "get table");
          return false;
        }
        if (found && err == 0) SeeTable(RealtimeMs(), how);
        return true;
      }
    }
  }

  void Wait() {
    const int64_t deadline = MonotonicMs() + spec_.timeoutMs;
    std::vector<char> buf(kRecvSize);
    while (!(RouteDone() && TableDone())) {
      int64_t left = deadline - MonotonicMs();
      if (left <= 0) return;
      // A part already seen is no longer listened to.
      pollfd fds[3] = {{RouteDone() ? -1 : route_fd_, POLLIN, 0},
                       {TableDone() ? -1 : table_fd_, POLLIN, 0},
                       {wake_fd_, POLLIN, 0}};
      int n = poll(fds, 3, static_cast<int>(left));
      if (n < 0) {
        if (errno == EINTR) continue;
        failure().Set(errno, "watch", "poll");
        return;
      }
      if (fds[2].revents) return;
      if (fds[0].revents && !Drain(route_fd_, buf, true)) return;
      if (fds[1].revents && !Drain(table_fd_, buf, false)) return;
    }
  }

  // Reads every queued notification of one socket. An overrun (ENOBUFS)
  // lost some: the state is checked again instead.
  bool Drain(int fd, std::vector<char>& buf, bool route) {
    for (;;) {
      sockaddr_nl from{};
      socklen_t fromLen = sizeof from;
      ssize_t n = recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromLen);
      const double when = RealtimeMs();
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == ENOBUFS) {
          overruns_++;
          table_pending_ = false;
          if (!(route ? CheckRoute(SeenBy::kRecheck) : CheckTable(SeenBy::kRecheck))) return false;
          if (route ? RouteDone() : TableDone()) return true;
          continue;
        }
        failure().Set(errno, "watch", "recv");
        return false;
      }
      if (from.nl_pid != 0) continue;  // only the kernel's messages count
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (route) {
          if (!RouteDone() && RouteMatches(h, spec_.route)) SeeRoute(when, SeenBy::kNotification);
          continue;
        }
        // The table counts once its whole transaction is committed: at the
        // generation announcement that closes the batch holding NEWTABLE.
        if (TableMatches(h, spec_.tableFamily, spec_.tableName)) table_pending_ = true;
        if (h->nlmsg_type == NftType(NFT_MSG_NEWGEN) && table_pending_ && !TableDone())
          SeeTable(when, SeenBy::kNotification);
      }
      if (route ? RouteDone() : TableDone()) return true;
    }
  }

  WatchSpec spec_;
  int wake_fd_ = -1;
  int route_fd_ = -1, table_fd_ = -1, table_query_fd_ = -1;
  Rtnl route_query_;
  uint32_t seq_ = 0;
  bool table_pending_ = false;
  double route_ms_ = NAN, table_ms_ = NAN, subscribed_ms_ = NAN, checked_ms_ = NAN;
  SeenBy route_by_ = SeenBy::kNot, table_by_ = SeenBy::kNot;
  int overruns_ = 0;
};

Watches::Watches(Napi::Env env) : home_ino_(NsGuard::CurrentInode()), rcvbuf_(RcvBufFromEnv()) {
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                        "twine-watch", 0, 1);
  // Refs only while a watch is pending, as the pool does.
  tsfn_.Unref(env);
}

Napi::Promise Watches::Start(Napi::Env env, Target target, WatchSpec spec) {
  spec.rcvBuf = rcvbuf_;
  auto* job = new WatchJob(env, std::move(target), std::move(spec));
  Napi::Promise p = job->Promise();
  if (job->failure().failed()) {
    job->Settle(env);
    delete job;
    return p;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_.insert(job);
  }
  if (pending_++ == 0) tsfn_.Ref(env);
  try {
    std::thread([this, job] { Run(job); }).detach();
  } catch (const std::system_error& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_.erase(job);
    }
    job->failure().Set(e.code().value(), "watch", "cannot start a thread");
    Complete(env, job);
  }
  return p;
}

void Watches::Run(WatchJob* job) {
  {
    NsGuard guard;
    if (!guard.ok() || guard.home_inode() != home_ino_)
      job->failure().Set(EIO, "watch", "watch thread did not start in the daemon's namespace");
    else
      try {
        job->Watch(guard);
      } catch (...) {
        job->failure().Set(ENOMEM, "watch", "out of memory");
      }
  }
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(job);
  bool queued = !stopping_ && tsfn_.NonBlockingCall(job, [this](Napi::Env env, Napi::Function, WatchJob* j) {
                                Complete(env, j);
                              }) == napi_ok;
  if (!queued) delete job;
  exited_.notify_all();
}

void Watches::Complete(Napi::Env env, WatchJob* job) {
  job->Settle(env);
  delete job;
  if (--pending_ == 0) tsfn_.Unref(env);
}

void Watches::Stop() {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return;
  stopping_ = true;
  for (WatchJob* job : live_) job->Wake();
  exited_.wait(lock, [this] { return live_.empty(); });
  lock.unlock();
  tsfn_.Release();
}

}  // namespace twine
