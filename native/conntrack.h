// ctnetlink: deleting the conntrack entries of the namespace the calling thread
// is in that match a filter (as `conntrack -D` does: dump, match, delete each
// by its original tuple and id). Used when a forward's destination moves or
// goes away, so a continuing flow is NAT'ed afresh instead of keeping its old
// destination for as long as packets keep it alive.
#pragma once

#include <stdint.h>

#include "job.h"

namespace twine {

struct CtFilter {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP; 0: any
  // Original direction: destination within a prefix, destination port in a range.
  bool hasOrigDst = false;
  uint8_t origDst[16] = {};
  int origDstLen = 0;
  uint16_t origDportLo = 0, origDportHi = 65535;
  // Reply direction: its source is where a DNAT sent the connection.
  bool hasReplySrc = false;
  uint8_t replySrc[16] = {};
  uint16_t replySportLo = 0, replySportHi = 65535;
  // -1: either; 1: only entries the kernel DNAT'ed (IPS_DST_NAT); 0: only entries it did not.
  int dnat = -1;
};

// At most this many entries are deleted per call (the rest stay for the next one).
constexpr uint32_t kMaxCtDeletes = 65536;

// Deletes the matching entries; *deleted counts those the kernel removed
// (an entry that expired meanwhile is not an error).
bool ConntrackDelete(const CtFilter& filter, uint32_t* deleted, Failure& f);

}  // namespace twine
