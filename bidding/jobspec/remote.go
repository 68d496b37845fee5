package jobspec

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/shoalnet/shoal/bidding/internal/dag"
)

// Remote inputs and publish targets (docs/jobspec.md, "url", "s3",
// "publish"). A remote input names data outside Shoal that the executor
// downloads and imports as UnixFS before the run; a publish target is where
// the executor also puts the outputs after pinning them. Neither carries
// credentials: S3 keys come from the executor's own environment.

// Limits of remote inputs and publish targets. They keep a receipt, which
// lists one entry per remote input and per target, within one message.
const (
	MaxRemoteInputs = 8
	MaxPublish      = 4
	MaxURLLen       = 2048
	MaxS3KeyLen     = 1024
	MaxEndpointLen  = 512
	MaxRegionLen    = 64
)

// S3Object names an S3 object (Key) or every object under a prefix
// (Prefix; empty Key and Prefix mean the whole bucket).
type S3Object struct {
	Bucket string
	// Key is one object, mounted as a file; exclusive with Prefix.
	Key string
	// Prefix selects the objects whose keys start with it, mounted as a
	// directory tree (key minus prefix, split at "/").
	Prefix string
	// Endpoint is the S3 service's base URL (http or https); empty means
	// the executor's configured endpoint, else AWS.
	Endpoint string
	// Region is the signing region; empty means the executor's default.
	Region string
}

// Publish is one place the executor puts a job's outputs after pinning
// them; exactly one of S3 and IPFS is set.
type Publish struct {
	S3   *S3Target
	IPFS *IPFSTarget
	// Required makes a failed publish fail the job; otherwise the receipt
	// only records the failure.
	Required bool
}

// S3Target publishes the outputs tree as objects under Prefix, plus an
// index object naming the outputs CID.
type S3Target struct {
	Bucket   string
	Prefix   string
	Endpoint string
	Region   string
}

// IPFSTarget pushes the outputs DAG as a CAR to a kubo node's RPC API
// (dag/import, pinned there).
type IPFSTarget struct {
	// API is the RPC API's base URL, such as http://127.0.0.1:5001.
	API string
}

// Remote reports whether the input is downloaded by the executor (URL or
// S3) rather than fetched by CID. A remote input has no CID in the spec;
// only an executor that imported the same URL before can hold its content
// (see Placed).
func (in Input) Remote() bool { return in.URL != "" || in.S3 != nil }

// Placed reports whether some node may already hold the input, so that
// where the job runs matters for it: a CID input, or a url input (an
// executor that imported the URL keeps its content pinned and reuses it
// while the server's ETag is unchanged). An s3 input is downloaded again by
// every executor, so no node is ever local for it.
func (in Input) Placed() bool { return in.CID.Defined() || in.URL != "" }

// Stateless reports whether no input of the job can be held by a node
// (none is Placed): every idle bidder is then as local as any other.
func (s *Spec) Stateless() bool {
	for _, in := range s.Inputs {
		if in.Placed() {
			return false
		}
	}
	return true
}

// Source describes where an input comes from, for messages and receipts:
// the CID, the URL, or s3://bucket/key.
func (in Input) Source() string {
	switch {
	case in.URL != "":
		return in.URL
	case in.S3 != nil:
		return in.S3.String()
	}
	return in.CID.String()
}

// String is s3://bucket/key (or the prefix, ending in / when it is not
// empty).
func (o *S3Object) String() string {
	if o.Key != "" {
		return "s3://" + o.Bucket + "/" + o.Key
	}
	return "s3://" + o.Bucket + "/" + o.Prefix
}

// String names the target: s3://bucket/prefix or ipfs+http://host:port.
func (p Publish) String() string {
	switch {
	case p.S3 != nil:
		return "s3://" + p.S3.Bucket + "/" + p.S3.Prefix
	case p.IPFS != nil:
		return "ipfs+" + p.IPFS.API
	}
	return ""
}

// RemoteInputs returns the indices of the remote inputs, in input order.
func (s *Spec) RemoteInputs() []int {
	var out []int
	for i, in := range s.Inputs {
		if in.Remote() {
			out = append(out, i)
		}
	}
	return out
}

// ParseS3URL reads s3://bucket, s3://bucket/prefix/ (a prefix: it ends in
// /) or s3://bucket/key (one object), as the CLI's --input takes them.
func ParseS3URL(s string) (*S3Object, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return nil, fmt.Errorf("%q: want s3://bucket/key or s3://bucket/prefix/", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	o := &S3Object{Bucket: bucket}
	if key == "" || strings.HasSuffix(key, "/") {
		o.Prefix = key
	} else {
		o.Key = key
	}
	return o, nil
}

// ParsePublishTarget reads a CLI --publish value: s3://bucket/prefix or
// ipfs+http(s)://host:port.
func ParsePublishTarget(s string) (Publish, error) {
	switch {
	case strings.HasPrefix(s, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
		return Publish{S3: &S3Target{Bucket: bucket, Prefix: prefix}}, nil
	case strings.HasPrefix(s, "ipfs+http://"), strings.HasPrefix(s, "ipfs+https://"):
		return Publish{IPFS: &IPFSTarget{API: strings.TrimPrefix(s, "ipfs+")}}, nil
	}
	return Publish{}, fmt.Errorf("%q: want s3://bucket/prefix or ipfs+http://host:5001", s)
}

// --- encoding ---

func putInputSource(m *dag.Map, in Input) {
	m.Link("cid", in.CID)
	m.Str("url", in.URL)
	if o := in.S3; o != nil {
		om := dag.NewMap()
		om.Str("bucket", o.Bucket)
		om.Str("key", o.Key)
		om.Str("prefix", o.Prefix)
		om.Str("endpoint", o.Endpoint)
		om.Str("region", o.Region)
		m.Node("s3", om.Build())
	}
}

func getInputSource(r *dag.Reader, in *Input) {
	in.CID = r.Link("cid")
	in.URL = r.Str("url")
	if r.Has("s3") {
		or := r.Map("s3")
		in.S3 = &S3Object{Bucket: or.Str("bucket"), Key: or.Str("key"), Prefix: or.Str("prefix"),
			Endpoint: or.Str("endpoint"), Region: or.Str("region")}
		or.Done()
	}
}

func publishMaps(ps []Publish) []*dag.Map {
	out := make([]*dag.Map, len(ps))
	for i, p := range ps {
		pm := dag.NewMap()
		if t := p.S3; t != nil {
			tm := dag.NewMap()
			tm.Str("bucket", t.Bucket)
			tm.Str("prefix", t.Prefix)
			tm.Str("endpoint", t.Endpoint)
			tm.Str("region", t.Region)
			pm.Node("s3", tm.Build())
		}
		if t := p.IPFS; t != nil {
			tm := dag.NewMap()
			tm.Str("api", t.API)
			pm.Node("ipfs", tm.Build())
		}
		pm.Flag("required", p.Required)
		out[i] = pm
	}
	return out
}

func readPublish(r *dag.Reader, s *Spec) {
	r.List("publish", MaxPublish, func(path string, item datamodel.Node) {
		pr := r.Sub(path, item)
		var p Publish
		if pr.Has("s3") {
			tr := pr.Map("s3")
			p.S3 = &S3Target{Bucket: tr.Str("bucket"), Prefix: tr.Str("prefix"), Endpoint: tr.Str("endpoint"), Region: tr.Str("region")}
			tr.Done()
		}
		if pr.Has("ipfs") {
			tr := pr.Map("ipfs")
			p.IPFS = &IPFSTarget{API: tr.Str("api")}
			tr.Done()
		}
		p.Required = pr.Flag("required")
		pr.Done()
		s.Publish = append(s.Publish, p)
	})
}

// --- normalization ---

func clonePublish(ps []Publish) []Publish {
	out := slices.Clone(ps)
	for i := range out {
		if t := out[i].S3; t != nil {
			c := *t
			out[i].S3 = &c
		}
		if t := out[i].IPFS; t != nil {
			c := *t
			out[i].IPFS = &c
		}
	}
	return out
}

func cloneInputs(ins []Input) []Input {
	out := slices.Clone(ins)
	for i := range out {
		if o := out[i].S3; o != nil {
			c := *o
			out[i].S3 = &c
		}
	}
	return out
}

// sortPublish puts targets in the order of their canonical names, so the
// order they were written in does not change the job ID.
func sortPublish(ps []Publish) {
	slices.SortStableFunc(ps, func(a, b Publish) int { return strings.Compare(a.String(), b.String()) })
}

// --- validation ---

func (s *Spec) validateRemote(l *errList) {
	if n := len(s.RemoteInputs()); n > MaxRemoteInputs {
		l.addf("inputs", ErrTooLarge, "%d url or s3 inputs, limit %d; import more with shoal add and give their CIDs", n, MaxRemoteInputs)
	}
	for i, in := range s.Inputs {
		p := fmt.Sprintf("inputs[%d]", i)
		n := 0
		for _, set := range []bool{in.CID.Defined(), in.URL != "", in.S3 != nil} {
			if set {
				n++
			}
		}
		if n > 1 {
			l.addf(p, ErrInvalid, "give one of cid, src, url and s3")
		}
		if in.URL != "" {
			checkURL(l, p+".url", in.URL, "the input's address, such as https://example.org/data.csv")
		}
		if o := in.S3; o != nil {
			checkBucket(l, p+".s3.bucket", o.Bucket)
			if o.Key != "" && o.Prefix != "" {
				l.addf(p+".s3", ErrInvalid, "give key (one object) or prefix (every object under it), not both")
			}
			checkKey(l, p+".s3.key", o.Key)
			checkKey(l, p+".s3.prefix", o.Prefix)
			checkEndpoint(l, p+".s3.endpoint", o.Endpoint)
			checkRegion(l, p+".s3.region", o.Region)
		}
	}
	if len(s.Publish) > MaxPublish {
		l.addf("publish", ErrTooLarge, "%d targets, limit %d", len(s.Publish), MaxPublish)
		return
	}
	seen := map[string]int{}
	for i, t := range s.Publish {
		p := fmt.Sprintf("publish[%d]", i)
		switch {
		case t.S3 == nil && t.IPFS == nil:
			l.addf(p, ErrRequired, "set s3: {bucket, prefix, endpoint} or ipfs: {api}")
			continue
		case t.S3 != nil && t.IPFS != nil:
			l.addf(p, ErrInvalid, "set only one of s3 and ipfs")
			continue
		case t.S3 != nil:
			checkBucket(l, p+".s3.bucket", t.S3.Bucket)
			checkKey(l, p+".s3.prefix", t.S3.Prefix)
			checkEndpoint(l, p+".s3.endpoint", t.S3.Endpoint)
			checkRegion(l, p+".s3.region", t.S3.Region)
		default:
			if t.IPFS.API == "" {
				l.addf(p+".ipfs.api", ErrRequired, "the base URL of a kubo RPC API, such as http://127.0.0.1:5001")
			} else {
				checkURL(l, p+".ipfs.api", t.IPFS.API, "a kubo RPC API such as http://127.0.0.1:5001")
			}
		}
		if j, dup := seen[t.String()]; dup {
			l.addf(p, ErrInvalid, "%s is also publish[%d]", t, j)
		}
		seen[t.String()] = i
	}
}

// checkURL accepts absolute http and https URLs with a host and without
// credentials (a spec is public: it is gossiped and stored by every node).
func checkURL(l *errList, field, s, want string) {
	if len(s) > MaxURLLen || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		l.addf(field, ErrInvalid, "at most %d bytes without spaces or control characters", MaxURLLen)
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		l.addf(field, ErrInvalid, "%q: %v; want %s", s, err, want)
	case u.Scheme != "http" && u.Scheme != "https":
		l.addf(field, ErrInvalid, "%q: scheme %q is not supported; use http or https (or an s3 input); want %s", s, u.Scheme, want)
	case u.Host == "" || u.Hostname() == "":
		l.addf(field, ErrInvalid, "%q has no host; want %s", s, want)
	case u.User != nil:
		l.addf(field, ErrInvalid, "%q holds credentials; a spec is public (gossiped, stored by every node): never put secrets in it", s)
	case u.Fragment != "":
		l.addf(field, ErrInvalid, "%q has a fragment (#...), which is never sent to a server; remove it", s)
	}
}

func checkEndpoint(l *errList, field, s string) {
	if s == "" {
		return
	}
	if len(s) > MaxEndpointLen {
		l.addf(field, ErrTooLarge, "%d bytes, limit %d", len(s), MaxEndpointLen)
		return
	}
	checkURL(l, field, s, "an S3 endpoint such as https://s3.example.org")
}

// checkBucket follows S3's bucket naming rules: 3 to 63 of a-z, 0-9, '.'
// and '-', starting and ending with a letter or digit.
func checkBucket(l *errList, field, b string) {
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		ok = alnum || (i > 0 && i < len(b)-1 && (c == '.' || c == '-'))
	}
	if !ok {
		l.addf(field, ErrInvalid, "bucket %q: 3 to 63 of a-z, 0-9, . and -, starting and ending with a letter or digit", b)
	}
}

func checkKey(l *errList, field, k string) {
	if len(k) > MaxS3KeyLen || !utf8.ValidString(k) || strings.ContainsFunc(k, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		l.addf(field, ErrInvalid, "at most %d bytes of UTF-8 without control characters", MaxS3KeyLen)
	}
}

func checkRegion(l *errList, field, r string) {
	if r != "" && !validName(r, MaxRegionLen, "-") {
		l.addf(field, ErrInvalid, "region %q: letters, digits and -, such as us-east-1", r)
	}
}
