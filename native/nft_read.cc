#include "nft_read.h"

#include <endian.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "netlink_socket.h"
#include "nlattr.h"
#include "rtnl.h"
#include "siphash.h"

namespace twine {

namespace {

constexpr size_t kRecvSize = 64 * 1024;
// A generation that keeps changing under the reads: give up rather than spin.
constexpr int kMaxTries = 8;

uint16_t NftType(int msg) { return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg); }

// An attribute's payload, when the attribute holds at least `size` bytes.
const void* Payload(const nlattr* a, size_t size) {
  return a->nla_len >= NLA_HDRLEN + size ? reinterpret_cast<const char*>(a) + NLA_HDRLEN : nullptr;
}

size_t PayloadLen(const nlattr* a) { return a->nla_len - NLA_HDRLEN; }

// A NUL-terminated (or not) string attribute, bounded by its length.
std::string StringOf(const nlattr* a) {
  const char* p = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
  size_t n = PayloadLen(a);
  return std::string(p, strnlen(p, n));
}

bool U32Of(const nlattr* a, uint32_t* v) {
  const void* p = Payload(a, sizeof(uint32_t));
  if (!p) return false;
  uint32_t x;
  memcpy(&x, p, sizeof x);
  *v = be32toh(x);
  return true;
}

bool U64Of(const nlattr* a, uint64_t* v) {
  const void* p = Payload(a, sizeof(uint64_t));
  if (!p) return false;
  uint64_t x;
  memcpy(&x, p, sizeof x);
  *v = be64toh(x);
  return true;
}

// Calls fn(type, attr) for each attribute in [data, data + len), every one bounded (./nlattr.h).
void WalkAttrs(const void* data, size_t len, const std::function<void(int, const nlattr*)>& fn) {
  ForEachAttr(static_cast<const uint8_t*>(data), len, [&](uint16_t type, const uint8_t* d, size_t) {
    fn(type, reinterpret_cast<const nlattr*>(d - NLA_HDRLEN));
  });
}

void ForEachNested(const nlattr* a, const std::function<void(int, const nlattr*)>& fn) {
  WalkAttrs(reinterpret_cast<const char*>(a) + NLA_HDRLEN, PayloadLen(a), fn);
}

// The attributes of an nftables message (after its nfgenmsg), or false when it is too short.
bool MessageAttrs(const nlmsghdr* h, const std::function<void(int, const nlattr*)>& fn) {
  size_t head = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
  if (h->nlmsg_len < head) return false;
  WalkAttrs(reinterpret_cast<const char*>(h) + head, h->nlmsg_len - head, fn);
  return true;
}

class Reader {
 public:
  Reader(Failure& f, NetlinkClock::time_point deadline) : f_(f), deadline_(deadline), budget_(ReadLimits::TableMessages()) {}
  ~Reader() {
    if (fd_ >= 0) close(fd_);
  }

  bool Open() {
    fd_ = OpenNetlink(NETLINK_NETFILTER, {}, 0, f_);
    return fd_ >= 0;
  }

  // Sends one request (with a string attribute `attr` = value unless attr is 0)
  // and passes each answer message to fn until the ack or NLMSG_DONE. `missing`
  // is set (instead of failing) when the kernel answers ENOENT; `interrupted`
  // when a dump saw the ruleset change (NLM_F_DUMP_INTR).
  bool Request(int msg, int family, bool dump, int attr, const std::string& value, const std::function<void(const nlmsghdr*)>& fn,
               bool* missing = nullptr, bool* interrupted = nullptr) {
    alignas(nlmsghdr) char req[512] = {};
    auto* h = reinterpret_cast<nlmsghdr*>(req);
    h->nlmsg_type = NftType(msg);
    h->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK);
    h->nlmsg_seq = ++seq_;
    auto* g = static_cast<nfgenmsg*>(NLMSG_DATA(h));
    g->nfgen_family = static_cast<uint8_t>(family);
    g->version = NFNETLINK_V0;
    h->nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
    if (attr != 0) {
      if (value.size() + 1 + NLA_HDRLEN + h->nlmsg_len > sizeof req) {
        f_.Set(ENAMETOOLONG, "nft", "table name");
        return false;
      }
      auto* a = reinterpret_cast<nlattr*>(req + h->nlmsg_len);
      a->nla_type = static_cast<uint16_t>(attr);
      a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + value.size() + 1);
      memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, value.c_str(), value.size() + 1);
      h->nlmsg_len += NLA_ALIGN(a->nla_len);
    }
    if (send(fd_, req, h->nlmsg_len, 0) < 0) {
      f_.Set(errno, "nft", "send");
      return false;
    }
    std::vector<char> buf(kRecvSize);
    for (;;) {
      ssize_t n = RecvFromKernel(fd_, buf, deadline_, "nft", f_);
      if (n < 0 || !budget_.Take(0, "nft", f_)) return false;
      int len = static_cast<int>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
        if (m->nlmsg_seq != seq_) continue;
        if (!budget_.Take(m->nlmsg_len, "nft", f_)) return false;
        if (interrupted && (m->nlmsg_flags & NLM_F_DUMP_INTR)) *interrupted = true;
        if (m->nlmsg_type == NLMSG_DONE) return true;
        if (m->nlmsg_type == NLMSG_ERROR) {
          int err = NetlinkErrorOf(m);
          if (err == ENOENT && missing) {
            *missing = true;
            return true;
          }
          if (err != 0) {
            f_.Set(err, "nft", "read table");
            return false;
          }
          return true;  // the ack of a non-dump request
        }
        fn(m);
      }
    }
  }

  // The ruleset generation (NFT_MSG_GETGEN).
  bool Generation(uint32_t* gen) {
    bool got = false;
    bool ok = Request(NFT_MSG_GETGEN, NFPROTO_UNSPEC, false, 0, {}, [&](const nlmsghdr* m) {
      if (m->nlmsg_type != NftType(NFT_MSG_NEWGEN)) return;
      MessageAttrs(m, [&](int type, const nlattr* a) {
        if (type == NFTA_GEN_ID && U32Of(a, gen)) got = true;
      });
    });
    if (ok && !got) f_.Set(EPROTO, "nft", "no generation in the answer");
    return ok && got;
  }

  // Each attempt at one generation's table gets the whole budget.
  void NewAttempt() { budget_.Reset(); }

 private:
  Failure& f_;
  const NetlinkClock::time_point deadline_;
  ReadBudget budget_;
  int fd_ = -1;
  uint32_t seq_ = 0;
};

bool ReadOnce(Reader& r, int family, const std::string& name, NftTableState* out, bool* interrupted) {
  *out = NftTableState{};
  bool missing = false;
  if (!r.Request(NFT_MSG_GETTABLE, family, false, NFTA_TABLE_NAME, name, [](const nlmsghdr*) {}, &missing)) return false;
  if (missing) return true;
  out->exists = true;

  // Chains: the kernel does not filter a chain dump by table; the family it does.
  bool ok = r.Request(
      NFT_MSG_GETCHAIN, family, true, 0, {},
      [&](const nlmsghdr* m) {
        if (m->nlmsg_type != NftType(NFT_MSG_NEWCHAIN)) return;
        NftChainInfo c;
        std::string table;
        bool hook = false, prio = false;
        MessageAttrs(m, [&](int type, const nlattr* a) {
          if (type == NFTA_CHAIN_TABLE) table = StringOf(a);
          else if (type == NFTA_CHAIN_NAME) c.name = StringOf(a);
          else if (type == NFTA_CHAIN_TYPE) c.type = StringOf(a);
          else if (type == NFTA_CHAIN_POLICY) c.hasPolicy = U32Of(a, &c.policy);
          else if (type == NFTA_CHAIN_HOOK) {
            ForEachNested(a, [&](int t, const nlattr* x) {
              uint32_t v;
              if (t == NFTA_HOOK_HOOKNUM && U32Of(x, &v)) {
                c.hook = v;
                hook = true;
              } else if (t == NFTA_HOOK_PRIORITY && U32Of(x, &v)) {
                c.prio = static_cast<int32_t>(v);
                prio = true;
              }
            });
          }
        });
        c.base = hook && prio;
        if (table == name && !c.name.empty()) out->chains.push_back(std::move(c));
      },
      nullptr, interrupted);
  if (!ok) return false;

  ok = r.Request(
      NFT_MSG_GETRULE, family, true, NFTA_RULE_TABLE, name,
      [&](const nlmsghdr* m) {
        if (m->nlmsg_type != NftType(NFT_MSG_NEWRULE)) return;
        NftRuleInfo rule;
        std::string table;
        MessageAttrs(m, [&](int type, const nlattr* a) {
          if (type == NFTA_RULE_TABLE) table = StringOf(a);
          else if (type == NFTA_RULE_CHAIN) rule.chain = StringOf(a);
          else if (type == NFTA_RULE_HANDLE) U64Of(a, &rule.handle);
          else if (type == NFTA_RULE_EXPRESSIONS) rule.exprHash = RuleExprHash(reinterpret_cast<const uint8_t*>(a) + NLA_HDRLEN, PayloadLen(a));
          else if (type == NFTA_RULE_USERDATA) {
            // libnftnl's user data: {u8 type, u8 len, value[len]}…; type 0 is the comment.
            const auto* p = reinterpret_cast<const uint8_t*>(a) + NLA_HDRLEN;
            size_t left = PayloadLen(a);
            while (left >= 2 && static_cast<size_t>(p[1]) + 2 <= left) {
              if (p[0] == 0) {
                const char* s = reinterpret_cast<const char*>(p + 2);
                rule.comment.assign(s, strnlen(s, p[1]));
                rule.hasComment = true;
              }
              left -= p[1] + 2u;
              p += p[1] + 2u;
            }
          }
        });
        if (table == name) out->rules.push_back(std::move(rule));
      },
      nullptr, interrupted);
  if (!ok) return false;

  return r.Request(
      NFT_MSG_GETOBJ, family, true, NFTA_OBJ_TABLE, name,
      [&](const nlmsghdr* m) {
        if (m->nlmsg_type != NftType(NFT_MSG_NEWOBJ)) return;
        NftCounterInfo c;
        std::string table;
        uint32_t objType = 0;
        MessageAttrs(m, [&](int type, const nlattr* a) {
          if (type == NFTA_OBJ_TABLE) table = StringOf(a);
          else if (type == NFTA_OBJ_NAME) c.name = StringOf(a);
          else if (type == NFTA_OBJ_TYPE) U32Of(a, &objType);
          else if (type == NFTA_OBJ_DATA) {
            ForEachNested(a, [&](int t, const nlattr* x) {
              if (t == NFTA_COUNTER_PACKETS) U64Of(x, &c.packets);
              else if (t == NFTA_COUNTER_BYTES) U64Of(x, &c.bytes);
            });
          }
        });
        if (table == name && objType == NFT_OBJECT_COUNTER) out->counters.push_back(std::move(c));
      },
      nullptr, interrupted);
}

}  // namespace

bool NftReadTable(int family, const std::string& name, NftTableState* out, Failure& f) {
  Reader r(f, NetlinkDeadline());
  if (!r.Open()) return false;
  for (int i = 0; i < kMaxTries; i++) {
    uint32_t before = 0, after = 0;
    bool interrupted = false;
    r.NewAttempt();
    if (!r.Generation(&before)) return false;
    if (!ReadOnce(r, family, name, out, &interrupted)) return false;
    if (!r.Generation(&after)) return false;
    if (!interrupted && before == after) return true;
  }
  f.Set(EAGAIN, "nft", "the ruleset kept changing while it was read");
  return false;
}

namespace {

const SipKey& HashKey() {
  static const SipKey key = [] {
    SipKey k;
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
      ssize_t n = getrandom(b + got, sizeof b - got, 0);
      if (n > 0) got += static_cast<size_t>(n);
      else if (errno != EINTR) break;
    }
    memcpy(&k.k0, b, 8);
    memcpy(&k.k1, b + 8, 8);
    return k;
  }();
  return key;
}

// Expressions whose data changes as packets pass.
bool CountsTraffic(const std::string& name) { return name == "counter" || name == "quota" || name == "last"; }

void AppendU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

}  // namespace

uint64_t RuleExprHash(const uint8_t* data, size_t len) {
  // What is hashed: per expression, its name, then its data unless it counts;
  // anything that is not a well-formed list element, as it is.
  std::string in;
  ForEachAttr(data, len, [&](uint16_t type, const uint8_t* elem, size_t elen) {
    AppendU32(in, type);
    std::string name;
    const uint8_t* body = nullptr;
    size_t blen = 0;
    bool other = type != NFTA_LIST_ELEM;
    if (!other) {
      ForEachAttr(elem, elen, [&](uint16_t t, const uint8_t* d, size_t n) {
        if (t == NFTA_EXPR_NAME) name.assign(reinterpret_cast<const char*>(d), strnlen(reinterpret_cast<const char*>(d), n));
        else if (t == NFTA_EXPR_DATA) body = d, blen = n;
        else other = true;
      });
    }
    if (other) {
      AppendU32(in, static_cast<uint32_t>(elen));
      in.append(reinterpret_cast<const char*>(elem), elen);
      return;
    }
    AppendU32(in, static_cast<uint32_t>(name.size()));
    in += name;
    if (CountsTraffic(name) || !body) return AppendU32(in, 0xffffffffu);
    AppendU32(in, static_cast<uint32_t>(blen));
    in.append(reinterpret_cast<const char*>(body), blen);
  });
  return SipHash24(HashKey(), reinterpret_cast<const uint8_t*>(in.data()), in.size());
}

std::string HashHex(uint64_t h) {
  static const char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; i--, h >>= 4) s[i] = kHex[h & 0xf];
  return s;
}

const char* InetHookName(uint32_t hook) {
  static const char* const kNames[] = {"prerouting", "input", "forward", "output", "postrouting", "ingress"};
  return hook < sizeof kNames / sizeof kNames[0] ? kNames[hook] : "unknown";
}

namespace {

void Part(std::string& out, char tag, const std::string& s) {
  out += tag;
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

// The order the signature and the hashes share: visit(chain, rules) for each
// chain by name, with its rules in the kernel's order (only the first chain of
// a name gets them). False when some rule's chain is not listed.
template <typename Visit>
bool ForEachChainByName(const NftTableState& t, Visit visit) {
  std::vector<const NftChainInfo*> chains;
  chains.reserve(t.chains.size());
  for (const auto& c : t.chains) chains.push_back(&c);
  std::sort(chains.begin(), chains.end(), [](const NftChainInfo* a, const NftChainInfo* b) { return a->name < b->name; });
  std::map<std::string, std::vector<const NftRuleInfo*>> rules;
  for (const auto& r : t.rules) rules[r.chain].push_back(&r);
  const std::vector<const NftRuleInfo*> none;
  for (const NftChainInfo* c : chains) {
    auto it = rules.find(c->name);
    if (it == rules.end()) {
      visit(*c, none);
      continue;
    }
    visit(*c, it->second);
    rules.erase(it);
  }
  return rules.empty();
}

}  // namespace

std::string NftTableSignature(const NftTableState& t) {
  std::string out;
  bool allListed = ForEachChainByName(t, [&](const NftChainInfo& c, const std::vector<const NftRuleInfo*>& rules) {
    Part(out, 'C', c.name);
    if (c.base) {
      out += 'B';
      Part(out, 'T', c.type);
      Part(out, 'H', InetHookName(c.hook));
      out += 'P' + std::to_string(c.prio) + ';';
      out += c.hasPolicy ? 'V' + std::to_string(c.policy) + ';' : std::string("V;");
    } else {
      out += '-';
    }
    for (const NftRuleInfo* r : rules) {
      if (r->hasComment) Part(out, 'R', r->comment);
      else out += 'N';
    }
  });
  if (!allListed) out += 'X';
  std::vector<const std::string*> counters;
  counters.reserve(t.counters.size());
  for (const auto& k : t.counters) counters.push_back(&k.name);
  std::sort(counters.begin(), counters.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* k : counters) Part(out, 'K', *k);
  return out;
}

std::string NftTableHashes(const NftTableState& t) {
  std::string out;
  out.reserve(16 * t.rules.size());
  ForEachChainByName(t, [&](const NftChainInfo&, const std::vector<const NftRuleInfo*>& rules) {
    for (const NftRuleInfo* r : rules) out += HashHex(r->exprHash);
  });
  return out;
}

}  // namespace twine
