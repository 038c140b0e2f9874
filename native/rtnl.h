// rtnetlink: routes, links and addresses of the namespace the calling thread
// is in (the socket binds to it when opened). Requests carry NLM_F_ACK and
// the socket asks for extended acks, so refusals come with the kernel's text.
// A process of that namespace may fill it: only the kernel's answers are read,
// each request's answer within one deadline, each dump within ReadLimits.
#pragma once

#include <linux/netlink.h>
#include <stdint.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "job.h"
#include "netlink_socket.h"

namespace twine {

enum class RouteType : uint8_t { kUnicast, kUnreachable, kBlackhole, kProhibit };

const char* RouteTypeName(RouteType t);
bool ParseRouteType(const std::string& s, RouteType* out);
// RTN_UNICAST etc.
uint8_t RouteTypeToKernel(RouteType t);

// A route as the JS layer describes it (see Route in src/netns/types.ts).
struct RouteSpec {
  int family = 0;  // AF_INET / AF_INET6
  uint8_t dst[16] = {};
  int dstLen = 0;
  bool hasGateway = false;
  uint8_t gateway[16] = {};
  std::string dev;  // empty: none
  bool hasMetric = false;
  uint32_t metric = 0;
  uint32_t table = 254;
  bool hasProtocol = false;
  uint8_t protocol = 0;
  bool hasScope = false;
  uint8_t scope = 0;
  RouteType type = RouteType::kUnicast;
};

struct RouteFilterSpec {
  int family = 0;       // 0: IPv4 and IPv6
  uint32_t table = 254; // 0: every table
  int protocol = -1;    // -1: any
};

struct RouteEntry {
  int family;
  std::string dst;  // CIDR
  RouteType type;
  std::string gateway;
  std::string dev;
  bool hasMetric = false;
  uint32_t metric = 0;
  uint32_t table;
  uint8_t protocol;
  uint8_t scope;
};

// The fields of one RTM_NEWROUTE message (dump reply or notification), as the kernel sent them.
struct RawRoute {
  uint8_t family = 0;
  uint8_t dstLen = 0;
  uint8_t type = 0;  // RTN_*
  uint8_t protocol = 0;
  uint8_t scope = 0;
  uint32_t flags = 0;
  uint32_t table = 0;
  bool hasDst = false;
  uint8_t dst[16] = {};
  bool hasGateway = false;
  uint8_t gateway[16] = {};
  int oif = 0;  // 0: none
  bool hasMetric = false;
  uint32_t metric = 0;
};

// False when h is not an RTM_NEWROUTE of AF_INET or AF_INET6 (or too short
// to be one). These parsers read nothing beyond h->nlmsg_len, which the
// caller has checked against what it received (NLMSG_OK).
bool ParseRouteMsg(const nlmsghdr* h, RawRoute* out);

struct LinkEntry {
  int index;
  std::string name;
  bool up;
  uint32_t mtu;
  std::string kind;
  std::string mac;
};

struct AddrEntry {
  int ifindex;
  std::string ifname;
  int family;
  std::string address;
  int prefixlen;
};

// False when h is not an RTM_NEWLINK (or too short to be one).
bool ParseLinkMsg(const nlmsghdr* h, LinkEntry* out);
// False when h is not an RTM_NEWADDR of AF_INET or AF_INET6; ifname is left empty.
bool ParseAddrMsg(const nlmsghdr* h, AddrEntry* out);
// The errno of an NLMSG_ERROR (0 for an ack); EPROTO when it is malformed.
int NetlinkErrorOf(const nlmsghdr* h);
// The extended-ack text (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR or NLMSG_DONE, if any.
std::string ExtAckMessage(const nlmsghdr* h);
// The forwarding value (NETCONFA_FORWARDING) of an RTM_NEWNETCONF of `family`
// about all interfaces (NETCONFA_IFINDEX_ALL); false when h is anything else
// or lacks either attribute.
bool ParseNetconfForwarding(const nlmsghdr* h, int family, int32_t* out);

enum class RouteCmd { kAdd, kReplace, kDel };

// What one read of a namespace may take (a dump of its routes, rules, links
// or addresses; a read of an nftables table): a process of the namespace with
// CAP_NET_ADMIN can fill it with entries, and Twine writes far fewer than
// this. Past either cap the read fails with Failure::kErrLimit instead of
// buffering what it is sent; the messages are handled as they arrive. The
// counts are the process's (SetReadLimits: the daemon derives them from its
// label limits): one for rtnetlink dumps, one for a read of Twine's nftables
// table, where the kernel's cost grows with the square of the rules (each
// part of a rule dump walks the chain from its start). The bytes are 4 KiB per
// message allowed.
struct ReadLimits {
  static constexpr size_t kDefaultMessages = 65536;
  static size_t Messages();       // rtnetlink dumps
  static size_t TableMessages();  // one nftables table read
};

// Sets both (each at least 1024) for every later read.
void SetReadLimits(size_t messages, size_t tableMessages);

// Counts one read's messages and bytes against a cap; false (f set) past either.
class ReadBudget {
 public:
  explicit ReadBudget(size_t cap) : cap_(cap) {}
  bool Take(size_t bytes, const char* stage, Failure& f);
  void Reset() { messages_ = bytes_ = 0; }

 private:
  size_t cap_;
  size_t messages_ = 0, bytes_ = 0;
};

// A policy routing rule "fwmark M/MASK lookup TABLE" (see Rule in src/netns/types.ts).
struct RuleSpec {
  int family = 0;  // AF_INET / AF_INET6
  uint32_t priority = 0;
  uint32_t table = 0;
  bool hasFwmark = false;
  uint32_t fwmark = 0;
  uint32_t fwmask = 0xffffffff;
  bool hasProtocol = false;
  uint8_t protocol = 0;
};

struct RuleFilterSpec {
  int family = 0;     // 0: IPv4 and IPv6
  int protocol = -1;  // -1: any
};

// One NETLINK_ROUTE socket. Not thread-safe; one per operation.
class Rtnl {
 public:
  Rtnl() = default;
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  bool Open(Failure& f, int timeoutMs = kNetlinkTimeoutMs);
  // Closes the socket (also done by the destructor); Open may be called again.
  void Close();
  bool IsOpen() const { return fd_ >= 0; }

  bool RouteModify(RouteCmd cmd, const RouteSpec& r, Failure& f);
  bool RouteDump(const RouteFilterSpec& filter, std::vector<RouteEntry>* out, Failure& f);
  // The routes of one family (0: both) as the kernel sends them: each() gets
  // every RTM_NEWROUTE message, unfiltered (the namespace watch matches them
  // the same way it matches route notifications); a dump the kernel marks
  // interrupted is asked again, and each() sees every attempt's messages.
  bool RouteDumpRaw(int family, const std::function<void(const nlmsghdr*)>& each, Failure& f);
  bool LinkDump(std::vector<LinkEntry>* out, Failure& f);
  bool AddrDump(std::vector<AddrEntry>* out, Failure& f);
  // One datagram from the kernel: its length, or -1 with f set (ETIMEDOUT
  // once the deadline passed, EMSGSIZE for a message that did not fit).
  ssize_t Recv(std::vector<char>& buf, NetlinkClock::time_point deadline, Failure& f);
  // ip rule add (idempotent: an identical rule is not added twice) / ip rule del
  // (by priority, table, fwmark and protocol).
  bool RuleModify(bool add, const RuleSpec& r, Failure& f);
  // ip rule show: the rules that look up a table (FR_ACT_TO_TBL), filtered.
  bool RuleDump(const RuleFilterSpec& filter, std::vector<RuleSpec>* out, Failure& f);
  // The namespace's "all" forwarding value of family (AF_INET: the datum of
  // net.ipv4.ip_forward; AF_INET6: net.ipv6.conf.all.forwarding), in one
  // RTM_GETNETCONF round trip. Fails (EOPNOTSUPP) when the family is not
  // there, e.g. IPv6 disabled at boot.
  bool NetconfForwarding(int family, int32_t* out, Failure& f);

 private:
  static constexpr size_t kRecvSize = 64 * 1024;
  struct Msg;
  // Sends m and reads until the kernel answers it: an NLMSG_ERROR (an ack or
  // a refusal), or a reply of its sequence that `answer` takes (returns true for).
  bool Transact(Msg& m, Failure& f, const std::function<bool(const nlmsghdr*)>& answer = {},
                size_t recvSize = kRecvSize);
  // Sends a dump request and calls each() for every reply message as it
  // arrives; when the dump was interrupted (the table changed under it) it is
  // asked again after reset(). Within ReadLimits and one deadline.
  template <typename Each>
  bool Dump(Msg& m, Each each, const std::function<void()>& reset, Failure& f);

  // A link's name, asked of the kernel by index (no dump of every link); "if<N>" when it has none.
  std::string LinkName(int index, std::map<int, std::string>& cache);

  int fd_ = -1;
  int timeoutMs_ = kNetlinkTimeoutMs;
  uint32_t seq_ = 0;
  bool strict_ = false;  // NETLINK_GET_STRICT_CHK is on
};

}  // namespace twine
