// The chains a twine.iptables.rule.* label may name. Each is a regular chain
// of Twine's nft table that a base chain jumps to first (firewall/nft.ts), so
// a user's rule keeps its iptables meaning there.

export const TWINE_CHAINS = [
  'TWINE_INPUT',
  'TWINE_OUTPUT',
  'TWINE_FORWARD',
  'TWINE_NAT_PREROUTING',
  'TWINE_NAT_POSTROUTING',
  'TWINE_NAT_OUTPUT',
] as const;
export type TwineChain = (typeof TWINE_CHAINS)[number];
