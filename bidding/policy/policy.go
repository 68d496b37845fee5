package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Defaults of the abuse limits (Abuse fields left at 0).
const (
	// DefaultAnnouncesPerSecond and DefaultAnnounceBurst bound the gossip
	// announcements of one author this node processes: a requester may
	// submit 500 jobs at once and 100 per second after that (each job is
	// announced once, then re-announced with backoff only while no bid
	// came).
	DefaultAnnouncesPerSecond = 100
	DefaultAnnounceBurst      = 500
	// DefaultBidStreamsPerSecond and DefaultBidStreamBurst bound the
	// inbound bid-protocol streams of one peer: a bidder opens one per job
	// it bids on, so the bound follows the largest batch a requester sends.
	DefaultBidStreamsPerSecond = 1000
	DefaultBidStreamBurst      = 4000
)

// Limits of a policy document.
const (
	// MaxDocumentSize bounds a policy document (or config section).
	MaxDocumentSize = 1 << 20
	// MaxListLen bounds every list of a policy.
	MaxListLen = 1024
	// maxOrgLen is the length limit of an org name.
	maxOrgLen = jobspec.MaxOrgLen
)

// ErrInvalid is wrapped by every error of Parse and Validate.
var ErrInvalid = errors.New("invalid policy")

// Policy is the operator's admission policy. Every field's zero value
// allows everything, so the zero Policy is an open node.
type Policy struct {
	// Requesters who may submit jobs here: nobody listed means anyone.
	Requesters Requesters `json:"requesters,omitzero"`
	// Engines the policy allows ("wasm", "docker"); empty: every engine
	// the node runs.
	Engines []string `json:"engines,omitempty"`
	// MaxResources is the most one job may ask for; a zero dimension has
	// no ceiling (beyond the node's capacity).
	MaxResources Ceilings `json:"max_resources,omitzero"`
	// Docker restricts the images of docker jobs.
	Docker Docker `json:"docker,omitzero"`
	// LocalInputsOnly refuses jobs whose inputs this node does not already
	// hold in full (the node never fetches inputs for others).
	LocalInputsOnly bool `json:"local_inputs_only,omitempty"`
	// MaxInputSize refuses jobs whose content (module or image tarball and
	// inputs) is larger, as far as the node can size it; 0: no limit.
	MaxInputSize Size `json:"max_input_size,omitzero"`
	// PerRequester limits what one requester may have here.
	PerRequester PerRequester `json:"per_requester,omitzero"`
	// Abuse sets the per-peer rate limits on announcements and bid streams.
	Abuse Abuse `json:"abuse,omitzero"`
}

// Requesters is an allow-list: a requester is allowed when it is one of
// Peers or a verified member (role requester or both) of one of Orgs.
// Both empty: anyone.
type Requesters struct {
	Peers []string `json:"peers,omitempty"`
	Orgs  []string `json:"orgs,omitempty"`
}

// Anyone reports whether the list is open.
func (r Requesters) Anyone() bool { return len(r.Peers) == 0 && len(r.Orgs) == 0 }

// Ceilings are per-job resource ceilings; 0 means no ceiling.
type Ceilings struct {
	CPU    CPU  `json:"cpu,omitzero"`
	Memory Size `json:"memory,omitzero"`
	Disk   Size `json:"disk,omitzero"`
}

// Docker is the image allow-list. Both lists empty: any image. Otherwise
// an image given by name must match one of Images (patterns where * matches
// any run of characters, "/" included; a name without tag or digest is
// also tried with ":latest"), and an image given by CID must be one of
// ImageCIDs (compared by multihash, so CIDv0 and v1 forms are equal).
type Docker struct {
	Images    []string `json:"images,omitempty"`
	ImageCIDs []string `json:"image_cids,omitempty"`
}

// Any reports whether any image is allowed.
func (d Docker) Any() bool { return len(d.Images) == 0 && len(d.ImageCIDs) == 0 }

// PerRequester limits each requester separately; 0 means no limit.
type PerRequester struct {
	// MaxConcurrent is the most jobs of one requester accepted here and not
	// finished (queued or running).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// JobsPerMinute is the most jobs of one requester accepted here per
	// minute (a token bucket holding a minute's worth).
	JobsPerMinute int `json:"jobs_per_minute,omitempty"`
}

// Abuse holds the per-peer abuse limits; 0 takes the default, -1 turns a
// limit off.
type Abuse struct {
	AnnouncesPerSecond  float64 `json:"announces_per_second,omitempty"`
	AnnounceBurst       int     `json:"announce_burst,omitempty"`
	BidStreamsPerSecond float64 `json:"bid_streams_per_second,omitempty"`
	BidStreamBurst      int     `json:"bid_stream_burst,omitempty"`
}

// Effective returns the limits with defaults filled in; a rate of 0 in the
// result means no limit.
func (a Abuse) Effective() Abuse {
	pick := func(v, def float64) float64 {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	return Abuse{
		AnnouncesPerSecond:  pick(a.AnnouncesPerSecond, DefaultAnnouncesPerSecond),
		AnnounceBurst:       int(pick(float64(a.AnnounceBurst), DefaultAnnounceBurst)),
		BidStreamsPerSecond: pick(a.BidStreamsPerSecond, DefaultBidStreamsPerSecond),
		BidStreamBurst:      int(pick(float64(a.BidStreamBurst), DefaultBidStreamBurst)),
	}
}

// Parse reads a policy document (JSON, the "policy" section of the node
// config): strict (unknown fields and trailing data are errors), at most
// MaxDocumentSize bytes, and valid (Validate).
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(data), MaxDocumentSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the policy object", ErrInvalid)
	}
	return &p, nil
}

// UnmarshalJSON decodes strictly and validates, so a node config with a
// bad policy section does not load.
func (p *Policy) UnmarshalJSON(b []byte) error {
	type plain Policy
	var v plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	q := Policy(v)
	if err := q.Validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

// Validate checks every field, naming the bad one.
func (p *Policy) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	lists := map[string][]string{"requesters.peers": p.Requesters.Peers, "requesters.orgs": p.Requesters.Orgs,
		"engines": p.Engines, "docker.images": p.Docker.Images, "docker.image_cids": p.Docker.ImageCIDs}
	for name, l := range lists {
		if len(l) > MaxListLen {
			return bad(name, "%d entries, limit %d", len(l), MaxListLen)
		}
	}
	for i, s := range p.Requesters.Peers {
		if _, err := peer.Decode(s); err != nil {
			return bad(fmt.Sprintf("requesters.peers[%d]", i), "%q is not a peer ID", s)
		}
	}
	for i, o := range p.Requesters.Orgs {
		if !validOrg(o) {
			return bad(fmt.Sprintf("requesters.orgs[%d]", i), "%q: 1 to %d letters, digits or ._- starting with a letter or digit", o, maxOrgLen)
		}
	}
	for i, e := range p.Engines {
		if e == "" || strings.ToLower(e) != e || strings.ContainsAny(e, " \t/") {
			return bad(fmt.Sprintf("engines[%d]", i), "%q is not an engine name (wasm, docker)", e)
		}
	}
	for i, pat := range p.Docker.Images {
		if pat == "" || len(pat) > jobspec.MaxImageLen || strings.ContainsAny(pat, " \t\n") {
			return bad(fmt.Sprintf("docker.images[%d]", i), "%q: an image name pattern of 1 to %d characters without spaces", pat, jobspec.MaxImageLen)
		}
	}
	for i, s := range p.Docker.ImageCIDs {
		if _, err := cid.Decode(s); err != nil {
			return bad(fmt.Sprintf("docker.image_cids[%d]", i), "%q is not a CID", s)
		}
	}
	switch {
	case p.MaxResources.CPU < 0 || p.MaxResources.Memory < 0 || p.MaxResources.Disk < 0:
		return bad("max_resources", "ceilings cannot be negative")
	case p.MaxInputSize < 0:
		return bad("max_input_size", "cannot be negative")
	case p.PerRequester.MaxConcurrent < 0 || p.PerRequester.JobsPerMinute < 0:
		return bad("per_requester", "limits cannot be negative (0 means no limit)")
	}
	a := p.Abuse
	for name, v := range map[string]float64{"announces_per_second": a.AnnouncesPerSecond, "announce_burst": float64(a.AnnounceBurst),
		"bid_streams_per_second": a.BidStreamsPerSecond, "bid_stream_burst": float64(a.BidStreamBurst)} {
		if v < -1 || (v < 0 && v != -1) || v > 1e6 || v != v {
			return bad("abuse."+name, "%v: want 0 (default), -1 (off) or a positive number up to 1e6", v)
		}
	}
	return nil
}

func validOrg(s string) bool {
	if len(s) == 0 || len(s) > maxOrgLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("._-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// allowsPeer reports whether p is listed in Requesters.Peers.
func (r Requesters) allowsPeer(p peer.ID) bool {
	return slices.ContainsFunc(r.Peers, func(s string) bool {
		q, err := peer.Decode(s)
		return err == nil && q == p
	})
}

// Size is a byte size: JSON reads a number of bytes or a string with a unit
// ("512MiB"), and writes the string form.
type Size int64

// MarshalJSON implements json.Marshaler.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(jobspec.FormatSize(int64(s))) }

// UnmarshalJSON implements json.Unmarshaler.
func (s *Size) UnmarshalJSON(b []byte) error {
	text, err := numberOrString(b, `size must be a number of bytes or a string like "512MiB"`)
	if err != nil {
		return err
	}
	n, err := jobspec.ParseSize(text)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// numberOrString returns the text of a JSON number or string; anything
// else is an error starting with what.
func numberOrString(b []byte, what string) (string, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case json.Number:
		return x.String(), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("%s, got %s", what, b)
}

// CPU is an amount of CPU in millicores: JSON reads cores (2, 0.5, "2") or
// millicores ("500m") and writes cores as a string.
type CPU int64

// MarshalJSON implements json.Marshaler.
func (c CPU) MarshalJSON() ([]byte, error) { return json.Marshal(jobspec.FormatCPU(int64(c))) }

// UnmarshalJSON implements json.Unmarshaler.
func (c *CPU) UnmarshalJSON(b []byte) error {
	text, err := numberOrString(b, `cpu must be cores (2, 0.5) or millicores ("500m")`)
	if err != nil {
		return err
	}
	n, err := jobspec.ParseCPU(text)
	if err != nil {
		return err
	}
	*c = CPU(n)
	return nil
}
