#include "conntrack.h"

#include "netlink_socket.h"
#include "nlattr.h"
#include "sysctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace twine {

namespace {

constexpr size_t kRecvSize = 64 * 1024;
constexpr int kDumpAttempts = 3;

uint16_t Be16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return ntohs(v);
}

uint32_t Be32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return ntohl(v);
}

struct Tuple {
  bool hasSrc = false, hasDst = false, hasProto = false, hasPorts = false;
  uint8_t src[16] = {}, dst[16] = {};
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;
};

void ParseTuple(const uint8_t* p, size_t len, size_t alen, Tuple* t) {
  ForEachAttr(p, len, [&](uint16_t type, const uint8_t* d, size_t n) {
    if (type == CTA_TUPLE_IP) {
      ForEachAttr(d, n, [&](uint16_t it, const uint8_t* a, size_t an) {
        if (an < alen) return;
        if (it == CTA_IP_V4_SRC || it == CTA_IP_V6_SRC) {
          memcpy(t->src, a, alen);
          t->hasSrc = true;
        } else if (it == CTA_IP_V4_DST || it == CTA_IP_V6_DST) {
          memcpy(t->dst, a, alen);
          t->hasDst = true;
        }
      });
    } else if (type == CTA_TUPLE_PROTO) {
      bool sp = false, dp = false;
      ForEachAttr(d, n, [&](uint16_t pt, const uint8_t* a, size_t an) {
        if (pt == CTA_PROTO_NUM && an >= 1) {
          t->proto = a[0];
          t->hasProto = true;
        } else if (pt == CTA_PROTO_SRC_PORT && an >= 2) {
          t->sport = Be16(a);
          sp = true;
        } else if (pt == CTA_PROTO_DST_PORT && an >= 2) {
          t->dport = Be16(a);
          dp = true;
        }
      });
      t->hasPorts = sp && dp;
    }
  });
}

bool InPrefix(const uint8_t* addr, const uint8_t* net, int len) {
  int full = len / 8, rest = len % 8;
  if (memcmp(addr, net, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (net[full] & mask);
}

bool PortsIn(uint16_t lo, uint16_t hi) { return lo == 0 && hi == 65535; }

// One entry of the dump: does it match, and the attributes that name it for a delete.
bool Match(const CtFilter& flt, const uint8_t* attrs, size_t len, std::vector<uint8_t>* key) {
  const size_t alen = flt.family == AF_INET ? 4 : 16;
  Tuple orig, reply;
  bool hasOrig = false, hasStatus = false;
  uint32_t status = 0;
  key->clear();
  ForEachAttr(attrs, len, [&](uint16_t type, const uint8_t* d, size_t n) {
    const uint8_t* hdr = d - NLA_HDRLEN;
    if (type == CTA_TUPLE_ORIG) {
      ParseTuple(d, n, alen, &orig);
      hasOrig = true;
    } else if (type == CTA_TUPLE_REPLY) {
      ParseTuple(d, n, alen, &reply);
    } else if (type == CTA_STATUS && n >= 4) {
      status = Be32(d);
      hasStatus = true;
    }
    // The original tuple, id and zone identify the entry to delete (the id keeps a
    // recycled entry with the same tuple from being deleted instead).
    if (type == CTA_TUPLE_ORIG || type == CTA_ID || type == CTA_ZONE) {
      key->insert(key->end(), hdr, hdr + NLA_HDRLEN + n);
      key->resize(NLA_ALIGN(key->size()), 0);
    }
  });
  if (!hasOrig || !orig.hasDst || !orig.hasProto) return false;
  if (flt.proto != 0 && orig.proto != flt.proto) return false;
  if (flt.hasOrigDst && !InPrefix(orig.dst, flt.origDst, flt.origDstLen)) return false;
  if (!PortsIn(flt.origDportLo, flt.origDportHi) &&
      (!orig.hasPorts || orig.dport < flt.origDportLo || orig.dport > flt.origDportHi))
    return false;
  if (flt.hasReplySrc && (!reply.hasSrc || memcmp(reply.src, flt.replySrc, alen) != 0)) return false;
  if (!PortsIn(flt.replySportLo, flt.replySportHi) &&
      (!reply.hasPorts || reply.sport < flt.replySportLo || reply.sport > flt.replySportHi))
    return false;
  if (flt.dnat >= 0) {
    if (!hasStatus) return false;
    bool dnat = (status & IPS_DST_NAT) != 0;
    if (dnat != (flt.dnat == 1)) return false;
  }
  return true;
}

class CtSocket {
 public:
  ~CtSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool Open(Failure& f) {
    // With the shared receive timeout: a netlink reply that never comes fails the step.
    fd_ = OpenNetlink(NETLINK_NETFILTER, {}, 0, f);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    return true;
  }

  // Sends header + nfgenmsg + attrs.
  bool Send(uint16_t msgType, uint16_t flags, int family, const std::vector<uint8_t>& attrs, Failure& f) {
    std::vector<uint8_t> buf(NLMSG_LENGTH(sizeof(nfgenmsg)) + attrs.size());
    auto* h = reinterpret_cast<nlmsghdr*>(buf.data());
    h->nlmsg_len = static_cast<uint32_t>(buf.size());
    h->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msgType);
    h->nlmsg_flags = flags;
    h->nlmsg_seq = ++seq_;
    auto* g = static_cast<nfgenmsg*>(NLMSG_DATA(h));
    g->nfgen_family = static_cast<uint8_t>(family);
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    if (!attrs.empty()) memcpy(buf.data() + NLMSG_LENGTH(sizeof(nfgenmsg)), attrs.data(), attrs.size());
    if (send(fd_, buf.data(), buf.size(), 0) < 0) {
      f.Set(errno, "conntrack", "send");
      return false;
    }
    return true;
  }

  // Receives until the reply to the last request ends; each() gets every data
  // message (attrs after nfgenmsg). Returns the kernel's error (0: none), or -1
  // with f set on a socket failure. *interrupted: the dump may be torn.
  template <typename Each>
  int Receive(Each each, bool* interrupted, Failure& f) {
    std::vector<char> buf(kRecvSize);
    const auto deadline = NetlinkDeadline();
    for (;;) {
      ssize_t n = RecvFromKernel(fd_, buf, deadline, "conntrack", f);
      if (n < 0) return -1;
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = true;
        if (h->nlmsg_type == NLMSG_DONE) return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
          if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EIO;
          const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          return -err->error;
        }
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) continue;
        const auto* g = static_cast<const nfgenmsg*>(NLMSG_DATA(h));
        const auto* attrs = reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(nfgenmsg));
        size_t alen = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
        each(g->nfgen_family, attrs, alen);
      }
    }
  }

 private:
  int fd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace

bool ConntrackDelete(const CtFilter& flt, uint32_t* deleted, Failure& f) {
  *deleted = 0;
  // A dump walks the kernel's whole conntrack table, every namespace's entries
  // (measured: ~15 ms of kernel CPU per namespace on a busy host, most of
  // re-pointing 100 dependents). The namespace's own count is one read: with no
  // entry there is nothing to delete. Unreadable (no conntrack module): dump.
  std::string count;
  Failure ignored;
  if (SysctlGet("net.netfilter.nf_conntrack_count", &count, ignored) && atol(count.c_str()) == 0 && count.find_first_not_of("0 \n") == std::string::npos)
    return true;
  CtSocket s;
  if (!s.Open(f)) return false;
  std::vector<std::vector<uint8_t>> keys;
  for (int attempt = 0; attempt < kDumpAttempts; attempt++) {
    keys.clear();
    if (!s.Send(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, flt.family, {}, f)) return false;
    bool interrupted = false;
    std::vector<uint8_t> key;
    int err = s.Receive(
        [&](uint8_t family, const uint8_t* attrs, size_t len) {
          if (family != flt.family || keys.size() >= kMaxCtDeletes) return;
          if (Match(flt, attrs, len, &key)) keys.push_back(key);
        },
        &interrupted, f);
    if (err < 0) return false;
    if (err > 0) {
      f.Set(err, "conntrack", "dump");
      return false;
    }
    if (!interrupted) break;
  }
  for (const auto& key : keys) {
    if (!s.Send(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, flt.family, key, f)) return false;
    bool interrupted = false;
    int err = s.Receive([](uint8_t, const uint8_t*, size_t) {}, &interrupted, f);
    if (err < 0) return false;
    if (err == 0) {
      (*deleted)++;
    } else if (err != ENOENT) {  // ENOENT: it expired meanwhile
      f.Set(err, "conntrack", "delete");
      return false;
    }
  }
  return true;
}

}  // namespace twine
