#include "rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/netconf.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "nlattr.h"

namespace twine {

namespace {

// A netconf reply is ~100 bytes; an error with its extended ack well under this.
constexpr size_t kNetconfRecvSize = 4096;
constexpr int kDumpAttempts = 5;
// MAX_ADDR_LEN: no link-layer address is longer.
constexpr size_t kMaxLinkAddr = 32;

bool RouteTypeFromKernel(uint8_t k, RouteType* out) {
  switch (k) {
    case RTN_UNICAST: *out = RouteType::kUnicast; return true;
    case RTN_UNREACHABLE: *out = RouteType::kUnreachable; return true;
    case RTN_BLACKHOLE: *out = RouteType::kBlackhole; return true;
    case RTN_PROHIBIT: *out = RouteType::kProhibit; return true;
    default: return false;  // local, broadcast, multicast...: not Twine's business
  }
}

std::string AddrToString(int family, const void* data) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, data, buf, sizeof buf)) return {};
  return buf;
}

size_t AddrLen(int family) { return family == AF_INET ? 4 : 16; }

}  // namespace

// Every message and attribute is length-checked before it is read: NLMSG_OK
// and RTA_OK bound each header by what is left, and a payload is read only
// when it is at least as long as what is read from it.

int NetlinkErrorOf(const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return EPROTO;
  int e;
  memcpy(&e, NLMSG_DATA(h), sizeof e);
  return e > 0 || e < -4095 ? EPROTO : -e;
}

std::string ExtAckMessage(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return {};
  const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t hlen = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
    // The request is echoed whole: its own header says how long it is.
    if (err->msg.nlmsg_len < NLMSG_HDRLEN) return {};
    hlen += err->msg.nlmsg_len - NLMSG_HDRLEN;
  }
  const size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(hlen);
  if (start >= h->nlmsg_len) return {};
  int len = static_cast<int>(h->nlmsg_len - start);
  const char* base = reinterpret_cast<const char*>(h) + start;
  for (auto* a = reinterpret_cast<const rtattr*>(base); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == NLMSGERR_ATTR_MSG) {
      const char* s = static_cast<const char*>(RTA_DATA(a));
      return std::string(s, strnlen(s, RTA_PAYLOAD(a)));
    }
  }
  return {};
}

uint8_t RouteTypeToKernel(RouteType t) {
  switch (t) {
    case RouteType::kUnicast: return RTN_UNICAST;
    case RouteType::kUnreachable: return RTN_UNREACHABLE;
    case RouteType::kBlackhole: return RTN_BLACKHOLE;
    case RouteType::kProhibit: return RTN_PROHIBIT;
  }
  return RTN_UNICAST;
}

const char* RouteTypeName(RouteType t) {
  switch (t) {
    case RouteType::kUnicast: return "unicast";
    case RouteType::kUnreachable: return "unreachable";
    case RouteType::kBlackhole: return "blackhole";
    case RouteType::kProhibit: return "prohibit";
  }
  return "unicast";
}

bool ParseRouteType(const std::string& s, RouteType* out) {
  for (RouteType t : {RouteType::kUnicast, RouteType::kUnreachable, RouteType::kBlackhole, RouteType::kProhibit}) {
    if (s == RouteTypeName(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

// A request under construction: header, fixed payload, then attributes.
struct Rtnl::Msg {
  alignas(nlmsghdr) char buf[512];
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf); }

  Msg(uint16_t type, uint16_t flags, const void* payload, size_t len) {
    memset(buf, 0, sizeof buf);
    hdr()->nlmsg_len = NLMSG_LENGTH(len);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = flags;
    memcpy(NLMSG_DATA(hdr()), payload, len);
  }

  void Attr(uint16_t type, const void* data, size_t len) {
    size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    auto* a = reinterpret_cast<rtattr*>(buf + off);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = off + RTA_ALIGN(a->rta_len);
  }
  void U32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof v); }
};

bool ParseRouteMsg(const nlmsghdr* h, RawRoute* out) {
  if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return false;
  const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
  if (r->rtm_family != AF_INET && r->rtm_family != AF_INET6) return false;
  out->family = r->rtm_family;
  out->dstLen = r->rtm_dst_len;
  out->type = r->rtm_type;
  out->protocol = r->rtm_protocol;
  out->scope = r->rtm_scope;
  out->flags = r->rtm_flags;
  out->table = r->rtm_table;
  const size_t alen = AddrLen(r->rtm_family);
  int len = static_cast<int>(RTM_PAYLOAD(h));
  for (auto* a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    const size_t n = RTA_PAYLOAD(a);
    switch (a->rta_type) {
      case RTA_TABLE:
        if (n >= 4) memcpy(&out->table, RTA_DATA(a), 4);
        break;
      case RTA_DST:
        out->hasDst = n >= alen;
        if (out->hasDst) memcpy(out->dst, RTA_DATA(a), alen);
        break;
      case RTA_GATEWAY:
        out->hasGateway = n >= alen;
        if (out->hasGateway) memcpy(out->gateway, RTA_DATA(a), alen);
        break;
      case RTA_OIF:
        if (n >= 4) memcpy(&out->oif, RTA_DATA(a), 4);
        break;
      case RTA_PRIORITY:
        out->hasMetric = n >= 4;
        if (out->hasMetric) memcpy(&out->metric, RTA_DATA(a), 4);
        break;
      default: break;
    }
  }
  return true;
}

Rtnl::~Rtnl() { Close(); }

void Rtnl::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool Rtnl::Open(Failure& f, int timeoutMs) {
  Close();
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) {
    f.Set(errno, "netlink", "socket");
    return false;
  }
  int one = 1;
  // Best effort: older kernels lack them, and errors still carry errno.
  setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  // Strict checking (Linux 4.20+) makes the kernel honour the filters of a
  // route dump request; without it they are ignored and filtering is ours.
  strict_ = setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) == 0;
  timeoutMs_ = timeoutMs;
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    f.Set(errno, "netlink", "bind");
    Close();
    return false;
  }
  return true;
}

ssize_t Rtnl::Recv(std::vector<char>& buf, NetlinkClock::time_point deadline, Failure& f) {
  return RecvFromKernel(fd_, buf, deadline, "netlink", f);
}

namespace {
std::atomic<size_t> g_readMessages{ReadLimits::kDefaultMessages};
std::atomic<size_t> g_tableMessages{ReadLimits::kDefaultMessages};
}  // namespace

size_t ReadLimits::Messages() { return g_readMessages.load(std::memory_order_relaxed); }
size_t ReadLimits::TableMessages() { return g_tableMessages.load(std::memory_order_relaxed); }

void SetReadLimits(size_t messages, size_t tableMessages) {
  g_readMessages.store(std::max<size_t>(messages, 1024), std::memory_order_relaxed);
  g_tableMessages.store(std::max<size_t>(tableMessages, 1024), std::memory_order_relaxed);
}

bool ReadBudget::Take(size_t bytes, const char* stage, Failure& f) {
  messages_++;
  bytes_ += bytes;
  if (messages_ <= cap_ && bytes_ <= cap_ * 4096) return true;
  f.Set(Failure::kErrLimit, stage,
        "the namespace holds more than one read may take (" + std::to_string(cap_) + " entries or " +
            std::to_string((cap_ * 4096) >> 20) + " MiB); refused as hostile");
  return false;
}

bool Rtnl::Transact(Msg& m, Failure& f, const std::function<bool(const nlmsghdr*)>& answer, size_t recvSize) {
  m.hdr()->nlmsg_seq = ++seq_;
  if (send(fd_, m.buf, m.hdr()->nlmsg_len, 0) < 0) {
    f.Set(errno, "netlink", "send");
    return false;
  }
  std::vector<char> buf(recvSize);
  const auto deadline = NetlinkDeadline(timeoutMs_);
  for (;;) {
    ssize_t n = Recv(buf, deadline, f);
    if (n < 0) return false;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_) continue;
      if (h->nlmsg_type != NLMSG_ERROR) {
        if (answer && answer(h)) return true;
        continue;
      }
      int err = NetlinkErrorOf(h);
      if (err == 0) return true;
      f.Set(err, "netlink");
      f.kernelMessage = ExtAckMessage(h);
      return false;
    }
  }
}

template <typename Each>
bool Rtnl::Dump(Msg& m, Each each, const std::function<void()>& reset, Failure& f) {
  std::vector<char> buf(kRecvSize);
  const auto deadline = NetlinkDeadline(timeoutMs_);
  ReadBudget budget(ReadLimits::Messages());
  for (int attempt = 0; attempt < kDumpAttempts; attempt++) {
    m.hdr()->nlmsg_seq = ++seq_;
    if (send(fd_, m.buf, m.hdr()->nlmsg_len, 0) < 0) {
      f.Set(errno, "netlink", "send");
      return false;
    }
    if (attempt > 0) reset();
    bool interrupted = false, done = false;
    while (!done) {
      ssize_t n = Recv(buf, deadline, f);
      if (n < 0) return false;
      if (!budget.Take(0, "netlink", f)) return false;
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (h->nlmsg_type == NLMSG_DONE) {
          int code = 0;
          if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) memcpy(&code, NLMSG_DATA(h), sizeof code);
          if (code < 0) {
            f.Set(code < -4095 ? EPROTO : -code, "netlink", "dump");
            f.kernelMessage = ExtAckMessage(h);
            return false;
          }
          done = true;
          break;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
          int err = NetlinkErrorOf(h);
          f.Set(err ? err : EIO, "netlink", "dump");
          f.kernelMessage = ExtAckMessage(h);
          return false;
        }
        if (!budget.Take(h->nlmsg_len, "netlink", f)) return false;
        each(h);
      }
    }
    // The table changed while it was dumped: the snapshot may be torn.
    if (!interrupted || attempt + 1 == kDumpAttempts) return true;
  }
  return true;
}

bool Rtnl::RouteModify(RouteCmd cmd, const RouteSpec& r, Failure& f) {
  rtmsg rt{};
  rt.rtm_family = static_cast<uint8_t>(r.family);
  rt.rtm_dst_len = static_cast<uint8_t>(r.dstLen);
  rt.rtm_table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  rt.rtm_type = RouteTypeToKernel(r.type);
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK;
  uint16_t type = RTM_NEWROUTE;
  if (cmd == RouteCmd::kDel) {
    // As `ip route del`: match any protocol and scope unless given.
    type = RTM_DELROUTE;
    rt.rtm_protocol = r.hasProtocol ? r.protocol : uint8_t{RTPROT_UNSPEC};
    rt.rtm_scope = r.hasScope ? r.scope : uint8_t{RT_SCOPE_NOWHERE};
  } else {
    flags |= NLM_F_CREATE | (cmd == RouteCmd::kAdd ? NLM_F_EXCL : NLM_F_REPLACE);
    rt.rtm_protocol = r.hasProtocol ? r.protocol : uint8_t{RTPROT_BOOT};
    // As `ip route add`: a unicast route without a gateway is on-link.
    rt.rtm_scope = r.hasScope ? r.scope
                   : (r.type == RouteType::kUnicast && !r.hasGateway) ? uint8_t{RT_SCOPE_LINK}
                                                                        : uint8_t{RT_SCOPE_UNIVERSE};
  }
  Msg m(type, flags, &rt, sizeof rt);
  m.U32(RTA_TABLE, r.table);
  size_t alen = AddrLen(r.family);
  if (r.dstLen > 0) m.Attr(RTA_DST, r.dst, alen);
  if (r.hasGateway) m.Attr(RTA_GATEWAY, r.gateway, alen);
  if (!r.dev.empty()) {
    // Resolved here, inside the namespace (if_nametoindex opens its socket in it).
    unsigned idx = if_nametoindex(r.dev.c_str());
    if (idx == 0) {
      f.Set(ENODEV, "netlink", "no device \"" + r.dev + "\"");
      return false;
    }
    m.U32(RTA_OIF, idx);
  }
  if (r.hasMetric) m.U32(RTA_PRIORITY, r.metric);
  return Transact(m, f);
}

std::string Rtnl::LinkName(int index, std::map<int, std::string>& cache) {
  auto it = cache.find(index);
  if (it != cache.end()) return it->second;
  char name[IF_NAMESIZE] = {};
  // An ioctl on a socket of the calling thread's namespace: one link, whatever the namespace holds.
  std::string s = if_indextoname(static_cast<unsigned>(index), name) ? std::string(name, strnlen(name, sizeof name)) : "if" + std::to_string(index);
  cache.emplace(index, s);
  return s;
}

bool Rtnl::RouteDump(const RouteFilterSpec& filter, std::vector<RouteEntry>* out, Failure& f) {
  std::map<int, std::string> names;
  rtmsg req{};
  req.rtm_family = static_cast<uint8_t>(filter.family);
  const bool kernelFilters = strict_ && (filter.table != 0 || filter.protocol > 0);
  // Protocol 0 cannot be asked for (the kernel reads 0 as "any"); the checks below always run.
  if (strict_ && filter.protocol > 0) req.rtm_protocol = static_cast<uint8_t>(filter.protocol);
  if (strict_ && filter.table != 0) req.rtm_table = filter.table < 256 ? static_cast<uint8_t>(filter.table) : uint8_t{RT_TABLE_UNSPEC};
  Msg m(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, &req, sizeof req);
  if (strict_ && filter.table != 0) m.U32(RTA_TABLE, filter.table);
  Failure dumpFailure;
  bool ok = Dump(
      m,
      [&](const nlmsghdr* h) {
        RawRoute raw;
        if (!ParseRouteMsg(h, &raw)) return;
        if (filter.family && raw.family != filter.family) return;
        if (raw.flags & RTM_F_CLONED) return;
        RouteEntry e;
        if (!RouteTypeFromKernel(raw.type, &e.type)) return;
        e.family = raw.family;
        e.table = raw.table;
        e.protocol = raw.protocol;
        e.scope = raw.scope;
        if (filter.table && e.table != filter.table) return;
        if (filter.protocol >= 0 && e.protocol != filter.protocol) return;
        if (raw.hasGateway) e.gateway = AddrToString(raw.family, raw.gateway);
        if (raw.oif) e.dev = LinkName(raw.oif, names);
        e.hasMetric = raw.hasMetric;
        e.metric = raw.metric;
        e.dst = AddrToString(raw.family, raw.dst) + "/" + std::to_string(raw.dstLen);
        out->push_back(std::move(e));
      },
      [&] { out->clear(); }, dumpFailure);
  // A one-family dump of a table that does not exist: the kernel says ENOENT; nothing is in it.
  if (!ok && kernelFilters && filter.family != 0 && dumpFailure.err == ENOENT) return true;
  if (!ok) f = dumpFailure;
  return ok;
}

bool Rtnl::RouteDumpRaw(int family, const std::function<void(const nlmsghdr*)>& each, Failure& f) {
  rtmsg req{};
  req.rtm_family = static_cast<uint8_t>(family);
  Msg m(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, &req, sizeof req);
  return Dump(
      m,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type == RTM_NEWROUTE) each(h);
      },
      [] {}, f);
}

bool ParseLinkMsg(const nlmsghdr* h, LinkEntry* out) {
  if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  *out = LinkEntry{ifi->ifi_index, {}, (ifi->ifi_flags & IFF_UP) != 0, 0, {}, {}};
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    const size_t n = RTA_PAYLOAD(a);
    switch (a->rta_type) {
      case IFLA_IFNAME: {
        const char* s = static_cast<const char*>(RTA_DATA(a));
        out->name.assign(s, strnlen(s, n));
        break;
      }
      case IFLA_MTU:
        if (n >= 4) memcpy(&out->mtu, RTA_DATA(a), 4);
        break;
      case IFLA_ADDRESS: {
        const auto* b = static_cast<const uint8_t*>(RTA_DATA(a));
        char hex[4];
        out->mac.clear();
        for (size_t i = 0; i < n && i < kMaxLinkAddr; i++) {
          snprintf(hex, sizeof hex, i ? ":%02x" : "%02x", b[i]);
          out->mac += hex;
        }
        break;
      }
      case IFLA_LINKINFO: {
        int ilen = static_cast<int>(n);
        for (auto* i = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen)) {
          if (i->rta_type == IFLA_INFO_KIND) {
            const char* s = static_cast<const char*>(RTA_DATA(i));
            out->kind.assign(s, strnlen(s, RTA_PAYLOAD(i)));
          }
        }
        break;
      }
      default: break;
    }
  }
  return true;
}

bool ParseAddrMsg(const nlmsghdr* h, AddrEntry* out) {
  if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return false;
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return false;
  const size_t alen = AddrLen(ifa->ifa_family);
  std::string local, address;
  int len = static_cast<int>(IFA_PAYLOAD(h));
  for (auto* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (RTA_PAYLOAD(a) < alen) continue;
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    if (a->rta_type == IFA_LOCAL) local = AddrToString(ifa->ifa_family, RTA_DATA(a));
    if (a->rta_type == IFA_ADDRESS) address = AddrToString(ifa->ifa_family, RTA_DATA(a));
  }
  *out = AddrEntry{static_cast<int>(ifa->ifa_index), {}, ifa->ifa_family, local.empty() ? address : local,
                   ifa->ifa_prefixlen};
  return true;
}

bool Rtnl::LinkDump(std::vector<LinkEntry>* out, Failure& f) {
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  Msg m(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, &req, sizeof req);
  return Dump(
      m,
      [&](const nlmsghdr* h) {
        LinkEntry e;
        if (ParseLinkMsg(h, &e)) out->push_back(std::move(e));
      },
      [&] { out->clear(); }, f);
}

bool Rtnl::AddrDump(std::vector<AddrEntry>* out, Failure& f) {
  std::map<int, std::string> names;
  ifaddrmsg req{};
  req.ifa_family = AF_UNSPEC;
  Msg m(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &req, sizeof req);
  return Dump(
      m,
      [&](const nlmsghdr* h) {
        AddrEntry e;
        if (!ParseAddrMsg(h, &e)) return;
        if (e.ifindex > 0) e.ifname = LinkName(e.ifindex, names);
        out->push_back(std::move(e));
      },
      [&] { out->clear(); }, f);
}

bool Rtnl::RuleModify(bool add, const RuleSpec& r, Failure& f) {
  fib_rule_hdr hdr{};
  hdr.family = static_cast<uint8_t>(r.family);
  hdr.table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  hdr.action = FR_ACT_TO_TBL;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? (NLM_F_CREATE | NLM_F_EXCL) : 0);
  Msg m(add ? RTM_NEWRULE : RTM_DELRULE, flags, &hdr, sizeof hdr);
  m.U32(FRA_TABLE, r.table);
  m.U32(FRA_PRIORITY, r.priority);
  if (r.hasFwmark) {
    m.U32(FRA_FWMARK, r.fwmark);
    m.U32(FRA_FWMASK, r.fwmask);
  }
  if (r.hasProtocol) m.Attr(FRA_PROTOCOL, &r.protocol, 1);
  if (Transact(m, f)) return true;
  // NLM_F_EXCL keeps a second copy out; the rule being there already is what was asked for.
  if (add && f.err == EEXIST) {
    f = Failure{};
    return true;
  }
  return false;
}

bool Rtnl::RuleDump(const RuleFilterSpec& filter, std::vector<RuleSpec>* out, Failure& f) {
  fib_rule_hdr req{};
  req.family = static_cast<uint8_t>(filter.family);
  Msg m(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, &req, sizeof req);
  return Dump(
      m,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWRULE || h->nlmsg_len < NLMSG_LENGTH(sizeof(fib_rule_hdr))) return;
        const auto* fr = static_cast<const fib_rule_hdr*>(NLMSG_DATA(h));
        if (fr->family != AF_INET && fr->family != AF_INET6) return;
        if (filter.family && fr->family != filter.family) return;
        if (fr->action != FR_ACT_TO_TBL) return;
        RuleSpec r;
        r.family = fr->family;
        r.table = fr->table;
        int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(fib_rule_hdr)));
        const auto* first = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(fr) + NLMSG_ALIGN(sizeof(fib_rule_hdr)));
        for (auto* a = first; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          const size_t n = RTA_PAYLOAD(a);
          switch (a->rta_type) {
            case FRA_TABLE:
              if (n >= 4) memcpy(&r.table, RTA_DATA(a), 4);
              break;
            case FRA_PRIORITY:
              if (n >= 4) memcpy(&r.priority, RTA_DATA(a), 4);
              break;
            case FRA_FWMARK:
              if (n >= 4) {
                memcpy(&r.fwmark, RTA_DATA(a), 4);
                r.hasFwmark = true;
              }
              break;
            case FRA_FWMASK:
              if (n >= 4) memcpy(&r.fwmask, RTA_DATA(a), 4);
              break;
            case FRA_PROTOCOL:
              if (n >= 1) {
                r.protocol = *static_cast<const uint8_t*>(RTA_DATA(a));
                r.hasProtocol = true;
              }
              break;
            default: break;
          }
        }
        if (filter.protocol >= 0 && (!r.hasProtocol || r.protocol != filter.protocol)) return;
        out->push_back(r);
      },
      [&] { out->clear(); }, f);
}

bool ParseNetconfForwarding(const nlmsghdr* h, int family, int32_t* out) {
  if (h->nlmsg_type != RTM_NEWNETCONF || h->nlmsg_len < NLMSG_LENGTH(sizeof(netconfmsg))) return false;
  const auto* ncm = static_cast<const netconfmsg*>(NLMSG_DATA(h));
  if (ncm->ncm_family != family) return false;
  // The attributes follow the 1-byte netconfmsg padded to NLMSG_ALIGNTO.
  const size_t start = NLMSG_SPACE(sizeof(netconfmsg));
  if (h->nlmsg_len <= start) return false;
  bool all = false, have = false;
  int32_t forwarding = 0;
  ForEachAttr(reinterpret_cast<const uint8_t*>(h) + start, h->nlmsg_len - start,
              [&](uint16_t type, const uint8_t* data, size_t n) {
                if (n != sizeof(int32_t)) return;  // both are s32
                int32_t v;
                memcpy(&v, data, sizeof v);
                if (type == NETCONFA_IFINDEX) all = v == NETCONFA_IFINDEX_ALL;
                if (type == NETCONFA_FORWARDING) have = true, forwarding = v;
              });
  if (!all || !have) return false;
  *out = forwarding;
  return true;
}

// A get request without NLM_F_ACK: the kernel answers with the RTM_NEWNETCONF
// or with an NLMSG_ERROR, never both.
bool Rtnl::NetconfForwarding(int family, int32_t* out, Failure& f) {
  netconfmsg req{};
  req.ncm_family = static_cast<uint8_t>(family);
  Msg m(RTM_GETNETCONF, NLM_F_REQUEST, &req, sizeof req);
  const int32_t all = NETCONFA_IFINDEX_ALL;
  m.Attr(NETCONFA_IFINDEX, &all, sizeof all);
  bool parsed = false;
  const auto answer = [&](const nlmsghdr* h) {
    parsed = ParseNetconfForwarding(h, family, out);
    return true;  // the one reply to the request, whatever it holds
  };
  if (!Transact(m, f, answer, kNetconfRecvSize)) return false;
  if (parsed) return true;
  f.Set(EPROTO, "netlink", "netconf reply without the forwarding value of all interfaces");
  return false;
}

}  // namespace twine
