//go:build tools

// Package kubo pins the kubo version Shoal's interop tests run against.
//
// kubo cannot be installed with `go install` (its go.mod replaces go-libp2p
// with a fork that the module proxy does not serve), so this separate module
// requires kubo and a released go-libp2p and builds kubo's command from here:
//
//	go build -o ipfs github.com/ipfs/kubo/cmd/ipfs
//
// scripts/kubo.sh does that into a cache outside the repository. The build
// tag keeps this file out of every normal build; the module is not part of
// the root module github.com/shoalnet/shoal.
package kubo

import _ "github.com/ipfs/kubo/cmd/ipfs"
