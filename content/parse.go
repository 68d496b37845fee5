package content

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/go-cid"
)

// ParseCID parses a CID given by a user or a peer. Surrounding white space
// and an "/ipfs/" prefix are accepted. The error names the input:
// `invalid CID "xyz": ...`.
func ParseCID(s string) (cid.Cid, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "/ipfs/")
	if t == "" {
		return cid.Undef, fmt.Errorf("invalid CID %q: empty", s)
	}
	c, err := cid.Decode(t)
	if err != nil {
		return cid.Undef, fmt.Errorf("invalid CID %q: %w", s, err)
	}
	return c, nil
}

// DefaultChunker is the chunker used when AddOptions.Chunker is empty:
// fixed 256 KiB chunks, as kubo.
const DefaultChunker = "size-262144"

// MaxChunkSize is the largest chunk a chunker may produce: bitswap's 2 MiB
// block limit less room for UnixFS framing (boxo's chunker.ChunkSizeLimit).
const MaxChunkSize = chunker.ChunkSizeLimit

// Chunker is a parsed, validated chunker specification.
type Chunker struct {
	// Kind is "size", "rabin" or "buzhash".
	Kind string
	// Size is the chunk size of a "size" chunker and the average of a
	// "rabin" chunker.
	Size int64
	// Min and Max bound a "rabin" chunker.
	Min, Max int64
}

// ParseChunker parses a chunker specification in kubo's syntax:
//
//	""  or "default"             size-262144
//	"size-N"                     fixed chunks of N bytes, 1 <= N <= MaxChunkSize
//	"rabin-AVG"                  Rabin fingerprinting, min AVG/3, max AVG*1.5
//	"rabin-MIN-AVG-MAX"          Rabin with explicit bounds (16 <= MIN < AVG < MAX)
//	"buzhash"                    buzhash content-defined chunks
//
// Bare "rabin" is refused: its average comes from a boxo package global.
func ParseChunker(s string) (Chunker, error) {
	bad := func(why string) (Chunker, error) {
		return Chunker{}, fmt.Errorf("invalid chunker %q: %s (want size-N, rabin-AVG, rabin-MIN-AVG-MAX or buzhash)", s, why)
	}
	if s == "" || s == "default" {
		s = DefaultChunker
	}
	parts := strings.Split(s, "-")
	num := func(p string) (int64, error) {
		if p == "" || len(p) > 10 {
			return 0, errors.New("bad number")
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return 0, errors.New("bad number")
			}
		}
		return strconv.ParseInt(p, 10, 64)
	}
	switch parts[0] {
	case "size":
		if len(parts) != 2 {
			return bad("expected size-N")
		}
		n, err := num(parts[1])
		if err != nil {
			return bad("size is not a decimal number")
		}
		if n <= 0 || n > int64(MaxChunkSize) {
			return bad(fmt.Sprintf("size must be between 1 and %d", MaxChunkSize))
		}
		return Chunker{Kind: "size", Size: n}, nil
	case "rabin":
		switch len(parts) {
		case 2:
			avg, err := num(parts[1])
			if err != nil {
				return bad("average is not a decimal number")
			}
			c := Chunker{Kind: "rabin", Size: avg, Min: avg / 3, Max: avg + avg/2}
			if c.Min < 16 || c.Max > int64(MaxChunkSize) {
				return bad(fmt.Sprintf("average must be between 48 and %d", int64(MaxChunkSize)*2/3))
			}
			return c, nil
		case 4:
			var v [3]int64
			for i, p := range parts[1:] {
				// kubo accepts optional labels: rabin-min:16-avg:32-max:64.
				if label, val, ok := strings.Cut(p, ":"); ok {
					if label != [3]string{"min", "avg", "max"}[i] {
						return bad("labels must be min, avg, max")
					}
					p = val
				}
				n, err := num(p)
				if err != nil {
					return bad("bounds must be decimal numbers")
				}
				v[i] = n
			}
			c := Chunker{Kind: "rabin", Min: v[0], Size: v[1], Max: v[2]}
			if c.Min < 16 || c.Min >= c.Size || c.Size >= c.Max || c.Max > int64(MaxChunkSize) {
				return bad(fmt.Sprintf("need 16 <= min < avg < max <= %d", MaxChunkSize))
			}
			return c, nil
		default:
			return bad("expected rabin-AVG or rabin-MIN-AVG-MAX")
		}
	case "buzhash":
		if len(parts) != 1 {
			return bad("buzhash takes no parameters")
		}
		return Chunker{Kind: "buzhash"}, nil
	default:
		return bad("unknown chunker")
	}
}

// String returns the specification in kubo's syntax.
func (c Chunker) String() string {
	switch c.Kind {
	case "size":
		return fmt.Sprintf("size-%d", c.Size)
	case "rabin":
		return fmt.Sprintf("rabin-%d-%d-%d", c.Min, c.Size, c.Max)
	default:
		return c.Kind
	}
}

// splitter returns a boxo splitter for r with every parameter explicit.
func (c Chunker) splitter(r io.Reader) (chunker.Splitter, error) {
	switch c.Kind {
	case "size":
		return chunker.NewSizeSplitter(r, c.Size), nil
	case "rabin":
		return chunker.NewRabinMinMax(r, uint64(c.Min), uint64(c.Size), uint64(c.Max)), nil
	case "buzhash":
		return chunker.NewBuzhash(r), nil
	default:
		return nil, fmt.Errorf("invalid chunker %q", c.Kind)
	}
}
