// Package policy is the operator's admission policy: who may run what on
// this node. A Policy (the "policy" section of the node config, parsed
// strictly by Parse) lists the allowed requesters (anyone, peer IDs,
// members of orgs), engines, per-job resource ceilings, a Docker image
// allow-list (name patterns and image CIDs), whether jobs whose inputs the
// node does not hold are accepted, a maximum input size, and per-requester
// concurrency and rate limits; Check turns it into a decision with a stable
// decline code. Buckets are the keyed token buckets behind the rate limits,
// including the per-peer abuse limits on announcements and bid streams.
//
// The zero Policy admits everything: it is today's open node.
//
// policy depends on bidding (codes, NodeView) and bidding/jobspec; it must
// not import node, p2p, content or exec. Org membership is resolved by the
// caller (package bidding/trust) and passed in.
package policy
