#pragma once

#include <linux/netlink.h>
#include <string.h>

#include <cstddef>
#include <cstdint>

namespace twine {

// Calls f(type, data, len) for each attribute in [p, p+len) whose header and
// payload lie inside the buffer; stops at the first malformed one. The one
// bounded walk over netlink attributes (conntrack dumps, nftables reads).
template <typename F>
void ForEachAttr(const uint8_t* p, size_t len, F f) {
  while (len >= NLA_HDRLEN) {
    nlattr a;
    memcpy(&a, p, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len) return;
    f(static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK), p + NLA_HDRLEN, static_cast<size_t>(a.nla_len - NLA_HDRLEN));
    size_t step = NLA_ALIGN(a.nla_len);
    if (step >= len) return;
    p += step;
    len -= step;
  }
}

}  // namespace twine
