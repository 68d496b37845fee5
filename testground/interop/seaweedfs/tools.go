//go:build tools

// Package seaweedfs pins the SeaweedFS version whose `weed` binary the tests
// start as a real S3-compatible server on loopback (scripts/seaweedfs.sh).
// SeaweedFS is Apache-2.0. This module is separate so the server's many
// dependencies never enter the main module.
package seaweedfs

import _ "github.com/seaweedfs/seaweedfs/weed"
