// SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash. With a key the
// namespace cannot know, a rule it writes cannot be made to hash like another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace twine {

struct SipKey {
  uint64_t k0 = 0, k1 = 0;
};

inline uint64_t SipHash24(const SipKey& key, const uint8_t* data, size_t len) {
  auto rotl = [](uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0, v1 = 0x646f72616e646f6dULL ^ key.k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0, v3 = 0x7465646279746573ULL ^ key.k1;
  auto round = [&] {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  };
  auto word = [&](uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  size_t full = len - len % 8;
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = 0;
    for (int b = 0; b < 8; b++) m |= static_cast<uint64_t>(data[i + b]) << (8 * b);
    word(m);
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t b = 0; b < len % 8; b++) last |= static_cast<uint64_t>(data[full + b]) << (8 * b);
  word(last);
  v2 ^= 0xff;
  for (int i = 0; i < 4; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace twine
