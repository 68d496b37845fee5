// Package metrics defines Shoal's own Prometheus metrics (named shoal_*)
// and the registry a node serves at GET /metrics.
//
// Each node builds one Metrics with New and hands it down (to the market,
// the abuse limits, the libp2p host through p2p.HostConfig.Registerer); a
// nil *Metrics records nothing, so tests and simulations may leave it out.
// There is no package-level registry: two nodes in one process keep apart
// their shoal_* metrics (go-libp2p's own collectors are process-wide
// variables of its packages, so those add up across hosts of one process).
//
// Every metric is listed in Definitions and documented in docs/metrics.md;
// tests hold the three to each other. It imports nothing of Shoal.
package metrics
