package content

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// maxBlobReferenceDepth is how many overlapping blob files one sstable may
// reference before a compaction rewrites the values into new blob files.
// Block keys are multihashes, spread evenly over the key space, so every
// flush's blob file overlaps every other: at pebble's usual 10, each
// compaction after the tenth flush (160 MiB of blocks) rewrote every block
// it touched, which was 60% of the pebble work of a 256 MiB fetch
// (profile of BenchmarkFetch256MiB/pebble). Blocks are only ever read by
// point lookups, for which a deep reference stack costs nothing (a blob
// handle names its file), so the bound is set high: 256 flushes, 4 GiB.
const maxBlobReferenceDepth = 256

// PebbleOptions returns pebble settings suited to a repo datastore that
// holds blocks (values of up to 1 MiB, mostly 256 KiB) besides small
// records. The node may pass them to go-ds-pebble
// (pebbleds.WithPebbleOpts); the Store works on any datastore.Batching.
//
//   - 16 MiB memtables: a 256 KiB block per write fills pebble's 4 MiB
//     default in 16 writes, making many tiny flushes and L0 files.
//   - Value separation (blob files) for values of 16 KiB and more: blocks are
//     written once into blob files and compactions move only keys and
//     references instead of rewriting every block at each level (until an
//     sstable references maxBlobReferenceDepth blob files).
//   - No compression: most block data (media, archives, encrypted or random
//     bytes) does not compress, and compressing it costs CPU on every write.
//
// Memory: at most two 16 MiB memtables (outside the Go heap) plus pebble's
// default 8 MiB block cache; an import of 1 GiB peaks at about 155 MiB RSS
// (BenchmarkAdd1GiB). Measured against pebble's defaults on 2 cores, a
// 256 MiB fetch between two Stores went from 40-60 to about 95 MiB/s.
func PebbleOptions() *pebble.Options {
	o := &pebble.Options{
		MemTableSize:                16 << 20,
		MemTableStopWritesThreshold: 2,
		L0CompactionThreshold:       4,
		LBaseMaxBytes:               256 << 20,
		FormatMajorVersion:          pebble.FormatNewest,
	}
	o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           16 << 10,
			MaxBlobReferenceDepth: maxBlobReferenceDepth,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	return o
}
