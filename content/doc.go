// Package content is a node's content layer: a persistent blockstore, bitswap
// (client and server) over the node's libp2p host, UnixFS import and export,
// pins, garbage collection and providing pinned roots to the DHT.
//
// It knows nothing about jobs: it must not import node, bidding, exec or p2p.
// The node constructs a [Store] with [New] from its host, its repo datastore
// and its DHT, and the job market uses the Store through small interfaces of
// its own (LocalBytes, Has, Fetch, PutBlock, GetBlock, Provide).
//
// # Same CIDs as kubo
//
// [Store.Add] imports files and directories as UnixFS with a balanced layout
// and passes every import setting explicitly (boxo has package globals for
// some of them; this package never reads or writes those). The defaults are
// CIDv1, raw leaves, 256 KiB chunks and 174 links per node, which is what
// kubo v0.43.1 produces with `ipfs add --cid-version=1`. The options map to
// kubo's flags as follows:
//
//	AddOptions                                   kubo ipfs add
//	{} (defaults)                                --cid-version=1
//	{CIDVersion: new(0)}                         (kubo's defaults: CIDv0, dag-pb leaves)
//	{RawLeaves: new(false)}                      --cid-version=1 --raw-leaves=false
//	{Chunker: "size-1048576", MaxLinks: 1024}    --cid-version=1 --chunker=size-1048576 --max-file-links=1024
//
// CIDVersion maps to --cid-version, RawLeaves to --raw-leaves (nil = kubo's
// implied default: raw leaves iff CIDv1), Chunker to --chunker and MaxLinks to
// --max-file-links. Directories match `ipfs add -r`: a basic UnixFS directory
// that becomes a HAMT (fanout 256) once its estimated size (link names plus
// CID bytes) passes 256 KiB, empty directories included. Symlinks are stored
// as UnixFS symlink nodes holding the link target verbatim, as kubo does; they
// are never followed on import, and [Store.WriteTo] recreates them as
// symlinks. Hidden files are the caller's choice ([OpenPath] skips them by
// default, like kubo's CLI).
//
// # Storage layout
//
// With Config.BlockDir set (the daemon sets $REPO/blocks), blocks of
// [LargeBlockMin] (16 KiB) and more are files there, one per block, named by
// the multihash in base32 under a directory per its last byte; files are
// written under tmp/ and renamed into place, so a file is whole or absent
// after a kill -9, and the first read of a file in a process checks it
// against its CID (a damaged file is removed and reads as missing). Smaller
// blocks live under /blocks of the repo datastore (keyed by multihash, as
// kubo), as do large blocks stored before the BlockDir existed, and the
// pinner's state under /pins. A 256 MiB fetch ran at 148 MiB/s with every
// block in pebble and 267 MiB/s with files (BenchmarkFetch256MiB): in
// pebble each byte was written twice (WAL, blob file) and every memtable
// flush synced. [PebbleOptions] are pebble settings suited to blocks (value
// separation, larger memtables, no compression), for a datastore that
// holds large blocks too.
//
// # What is synced when
//
// Block writes are not synced one by one (go-ds-pebble writes with
// pebble.NoSync; a block file is written without fsync, its write-back
// started at once with sync_file_range); the block files (one syncfs of
// their file system) and then the datastore are synced once per operation,
// before the operation's pin and before it returns:
//
//   - Add (and AddAll) writes its blocks in batches, syncs, then pins the roots.
//   - Fetch keeps the blocks it receives in a write-back buffer of up to
//     8 MiB or 64 blocks (answered from there to the fetch itself) and
//     writes each full buffer as one batch (PutMany) in the background
//     while the next fills (a third waits); at the end it writes
//     the rest and syncs once, and only then does Pin (or a caller's pin)
//     record the root. A failed or cancelled fetch still writes what
//     arrived, unsynced, so a later fetch of the DAG resumes from it.
//   - ImportCAR writes batches of 64 blocks, checks every root's DAG,
//     syncs, then pins.
//   - PutBlock syncs at once; pins are flushed by the pinner.
//
// So a crash (kill -9) mid-operation leaves unpinned blocks that the next
// [Store.GC] removes, never a pin on a partial DAG, and a pin that was
// acknowledged survives with its whole DAG (cmd/shoal
// TestFetchedPinSurvivesKill9). [Store.GC] takes the
// blockstore's GC lock; imports, fetches and pins hold its pin lock, so a
// collection never races them.
//
// # CAR
//
// [Store.ExportCAR] writes a local DAG as a CARv1 (go-car v2) with its root
// as the only root, each block once, depth first as kubo's `ipfs dag export`
// (kubo's export of the same DAG is the same bytes). [Store.ImportCAR] reads
// a CAR as hostile input (see its doc and [ErrBadCAR]).
//
// # Network
//
// Bitswap serves every local block and fetches missing ones. The DHT (when
// Config.Router is set) is asked for providers with a bounded wait
// (FindProvidersTimeout, default 30 s): a CID that no connected peer has and
// that the DHT lists no provider for fails with [ErrNoProviders] instead of
// hanging. Pinned roots are provided at once (asynchronously; a failure is
// logged, never returned to the importer) and reprovided every
// ReprovideInterval (default 12 h).
//
// Bitswap never runs over a relayed (limited) connection: libp2p holds its
// streams until hole punching made the connection direct, for a bounded
// wait, and bitswap asks other providers meanwhile. A fetch whose every
// provider is connected through a relay alone fails with a
// [*NoDirectConnError] ("no direct connection to the only provider of X:
// hole punch failed after N attempts; see shoal doctor").
//
// A fetch that receives no block for a few seconds while it waits for some
// asks again in a new bitswap session (bitswap occasionally loses a want),
// and gives up with [ErrNotFound] once nothing at all arrived for
// FindProvidersTimeout. Empty blocks (the raw leaf of an empty file) are
// answered locally: boxo's bitswap server never sends a block of size 0, so
// they are made up from their CID on the fetching side and reported with a
// size of 1 to the serving side, which then sends them to kubo peers too.
package content
