// Package publish puts content that is already in the node's store
// somewhere outside Shoal: into a remote kubo node through its RPC API (a
// CAR posted to /api/v0/dag/import and pinned there), or into an S3 bucket
// (the files as objects plus an index object naming the CID, through
// content/s3io). Connections go through fetchurl's dialer, so a target a
// job names obeys the node's destination policy.
//
// It must not import bidding, node or exec.
package publish
