// Package archtest holds the repository's architecture tests and nothing
// else: the import rules that the package docs state (exec and content
// import no bidding or node, bidding imports no libp2p host, network or
// pubsub package outside the transport (inside bidding/market: outside its
// transport files), a parent never imports its children, nothing of the
// product imports cmd/, testground/ or the test helpers), checked against
// `go list -deps` and the files' imports, and the rule that no tracked
// file is over 1 MiB unless it is a test fixture under testdata/.
//
// A rule that changes changes here and in the package doc that states it,
// in the same commit. The tests need the go command (and git, for the file
// sizes; without it or without .git, as in a source tarball, that test
// skips). The package has no API and nothing imports it.
package archtest
