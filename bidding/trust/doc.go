// Package trust is who is who across organizations: org keys, the
// membership certificates an org key signs for a peer (with a role and an
// expiry), the roots a node trusts (org name → org public key, plus an
// operator deny-list), and a Directory of the memberships peers proved by
// presenting certificates.
//
// A certificate is a bearer proof: it is self-contained (it carries the
// org's public key and is signed by it), so a node may learn it from any
// signed message of the peer it names — an announce, a bid or the peer's
// capability record — and check it against its own roots at the time of
// use. Revocation is by expiry and by the deny-list (a peer ID revokes all
// of that peer's certificates, a certificate ID revokes one).
//
// docs/security.md is the reference for the format and the threat model.
//
// trust depends on bidding (its wire limits), bidding/internal/dag, and
// go-libp2p's core crypto and peer types; it must not import node, p2p,
// content or exec, and knows nothing of jobs.
package trust
