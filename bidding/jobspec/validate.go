package jobspec

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Validate checks s against the rules and limits of spec version 1. Zero
// fields are checked as their defaults. The error joins one *FieldError per
// problem (at most 20), each naming the field path.
func (s *Spec) Validate() error {
	c := s.Clone()
	c.fillDefaults()
	return c.validate()
}

// validate checks a spec whose defaults are filled. Field indices in error
// paths follow the current order of the slices.
func (s *Spec) validate() error {
	var l errList
	switch s.Type {
	case Batch:
		if s.Count < 1 || s.Count > MaxCount {
			l.addf("count", ErrInvalid, "%d: a batch job runs on 1 to %d nodes", s.Count, MaxCount)
		}
	case Ops:
		if s.Count < 0 || s.Count > MaxCount {
			l.addf("count", ErrInvalid, "%d: an ops job runs on at most %d nodes (0 = every bidder)", s.Count, MaxCount)
		}
	default:
		l.addf("type", ErrInvalid, "%q: use batch or ops", s.Type)
	}
	checkText(&l, "name", s.Name, MaxNameLen)
	s.validateEngine(&l)
	s.validatePaths(&l)
	checkRange(&l, "resources.cpu", s.Resources.MilliCPU, 1, MaxMilliCPU, FormatCPU)
	checkRange(&l, "resources.memory", s.Resources.Memory, 1<<20, MaxMemory, FormatSize)
	checkRange(&l, "resources.disk", s.Resources.Disk, 1, MaxDisk, FormatSize)
	checkDuration(&l, "timeout", s.Timeout, MaxTimeout)
	checkDuration(&l, "queue_timeout", s.QueueTimeout, MaxQueueTimeout)
	s.validateConstraints(&l)
	switch s.Reuse {
	case ReuseTrusted, ReuseNever:
	default:
		l.addf("reuse", ErrInvalid, "%q: use trusted or never", s.Reuse)
	}
	s.validateRemote(&l)
	s.validateSecrets(&l)
	s.validateVerify(&l)
	s.validatePartition(&l)
	return l.err()
}

func (s *Spec) validateEngine(l *errList) {
	w, d := s.Engine.Wasm, s.Engine.Docker
	switch {
	case w == nil && d == nil:
		l.addf("engine", ErrRequired, "set engine.wasm or engine.docker")
	case w != nil && d != nil:
		l.addf("engine", ErrInvalid, "set only one of engine.wasm and engine.docker")
	case w != nil:
		if !w.Module.Defined() {
			l.addf("engine.wasm.module", ErrRequired, "the CID of the .wasm module (shoal add prints it), or its local path such as ./hello.wasm")
		} else {
			checkCID(l, "engine.wasm.module", w.Module)
		}
		if w.Entrypoint == "" || len(w.Entrypoint) > 128 || strings.ContainsFunc(w.Entrypoint, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) || !utf8.ValidString(w.Entrypoint) {
			l.addf("engine.wasm.entrypoint", ErrInvalid, "%q: an exported function name of 1 to 128 printable characters", w.Entrypoint)
		}
		checkArgs(l, "engine.wasm.args", w.Args)
		checkEnv(l, "engine.wasm.env", w.Env)
	default:
		switch {
		case d.Image == "" && !d.ImageCID.Defined():
			l.addf("engine.docker.image", ErrRequired, "set image (a reference such as alpine:3.20) or image_cid (a docker save tarball added with shoal add)")
		case d.Image != "" && d.ImageCID.Defined():
			l.addf("engine.docker.image", ErrInvalid, "set only one of image and image_cid")
		case d.Image != "":
			if len(d.Image) > MaxImageLen || !utf8.ValidString(d.Image) || strings.ContainsFunc(d.Image, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
				l.addf("engine.docker.image", ErrInvalid, "%q: an image reference of at most %d characters without spaces", d.Image, MaxImageLen)
			}
		default:
			checkCID(l, "engine.docker.image_cid", d.ImageCID)
		}
		checkArgs(l, "engine.docker.entrypoint", d.Entrypoint)
		checkArgs(l, "engine.docker.args", d.Args)
		checkEnv(l, "engine.docker.env", d.Env)
	}
}

func (s *Spec) validatePaths(l *errList) {
	if len(s.Inputs) > MaxInputs {
		l.addf("inputs", ErrTooLarge, "%d inputs, limit %d", len(s.Inputs), MaxInputs)
		return
	}
	if len(s.Outputs) > MaxOutputs {
		l.addf("outputs", ErrTooLarge, "%d outputs, limit %d", len(s.Outputs), MaxOutputs)
		return
	}
	type mount struct{ path, field string }
	var mounts []mount
	for i, in := range s.Inputs {
		p := fmt.Sprintf("inputs[%d]", i)
		switch {
		case in.Remote():
		case !in.CID.Defined():
			l.addf(p+".cid", ErrRequired, "the CID of the input (shoal add prints it), src: a local file or directory, url or s3")
		default:
			checkCID(l, p+".cid", in.CID)
		}
		if checkPath(l, p+".path", in.Path) {
			mounts = append(mounts, mount{in.Path, p + ".path"})
		}
	}
	for i, o := range s.Outputs {
		p := fmt.Sprintf("outputs[%d]", i)
		if checkPath(l, p, o) {
			mounts = append(mounts, mount{o, p})
		}
	}
	for j := range mounts {
		for i := range j {
			a, b := mounts[i], mounts[j]
			switch {
			case a.path == b.path:
				l.addf(b.field, ErrInvalid, "%q is also used by %s", b.path, a.field)
			case within(a.path, b.path) || within(b.path, a.path):
				l.addf(b.field, ErrInvalid, "%q overlaps %q of %s; mounts must not nest", b.path, a.path, a.field)
			}
		}
	}
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	return strings.HasPrefix(p, dir+"/")
}

func checkPath(l *errList, field, p string) bool {
	switch {
	case p == "":
		l.addf(field, ErrRequired, "an absolute path such as /inputs/data")
	case len(p) > MaxPathLen || !utf8.ValidString(p) || strings.ContainsRune(p, 0):
		l.addf(field, ErrInvalid, "%q: at most %d bytes of UTF-8 without NUL", p, MaxPathLen)
	case !path.IsAbs(p):
		l.addf(field, ErrInvalid, "%q is relative; use an absolute path such as /%s", p, strings.TrimLeft(p, "./"))
	case p == "/":
		l.addf(field, ErrInvalid, `"/" cannot be mounted; use a directory such as /inputs`)
	case path.Clean(p) != p:
		l.addf(field, ErrInvalid, "%q is not clean; write %q", p, path.Clean(p))
	default:
		return true
	}
	return false
}

func checkCID(l *errList, field string, c cid.Cid) {
	if n := c.ByteLen(); n > MaxCIDLen {
		l.addf(field, ErrTooLarge, "CID of %d bytes, limit %d", n, MaxCIDLen)
	}
}

func checkText(l *errList, field, v string, max int) {
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		l.addf(field, ErrInvalid, "%q: at most %d bytes of printable UTF-8", v, max)
	}
}

func checkArgs(l *errList, field string, args []string) {
	if len(args) > MaxArgs {
		l.addf(field, ErrTooLarge, "%d items, limit %d", len(args), MaxArgs)
		return
	}
	for i, a := range args {
		if len(a) > MaxArgLen || !utf8.ValidString(a) || strings.ContainsRune(a, 0) {
			l.addf(fmt.Sprintf("%s[%d]", field, i), ErrInvalid, "at most %d bytes of UTF-8 without NUL", MaxArgLen)
		}
	}
}

func checkEnv(l *errList, field string, env map[string]string) {
	if len(env) > MaxEnv {
		l.addf(field, ErrTooLarge, "%d variables, limit %d", len(env), MaxEnv)
		return
	}
	for _, k := range sortedKeys(env) {
		v := env[k]
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00") || !utf8.ValidString(k):
			l.addf(field, ErrInvalid, "variable name %q: non-empty UTF-8 without = or NUL", k)
		case len(k)+len(v) > MaxEnvLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			l.addf(field+"."+k, ErrInvalid, "at most %d bytes of UTF-8 without NUL with its name", MaxEnvLen)
		}
	}
}

func checkRange(l *errList, field string, v, min, max int64, format func(int64) string) {
	if v < min || v > max {
		l.addf(field, ErrInvalid, "%s: must be between %s and %s", format(v), format(min), format(max))
	}
}

func checkDuration(l *errList, field string, d, max time.Duration) {
	switch {
	case d <= 0 || d > max:
		l.addf(field, ErrInvalid, "%s: must be more than 0 and at most %s", d, FormatDuration(max))
	case d%time.Millisecond != 0:
		l.addf(field, ErrInvalid, "%s: must be a whole number of milliseconds", d)
	}
}

func (s *Spec) validateConstraints(l *errList) {
	c := s.Constraints
	switch c.Locality {
	case Required, Preferred, Anywhere:
	default:
		l.addf("constraints.locality", ErrInvalid, "%q: use required, preferred or anywhere", c.Locality)
	}
	if len(c.Labels) > MaxLabels {
		l.addf("constraints.labels", ErrTooLarge, "%d labels, limit %d", len(c.Labels), MaxLabels)
	} else {
		for _, k := range sortedKeys(c.Labels) {
			if !validName(k, MaxLabelKeyLen, "._/-") {
				l.addf("constraints.labels", ErrInvalid, "label %q: 1 to %d letters, digits or ._/- starting with a letter or digit", k, MaxLabelKeyLen)
				continue
			}
			checkText(l, "constraints.labels."+k, c.Labels[k], MaxLabelValLen)
		}
	}
	ex := c.Executors
	if len(ex.Orgs) > MaxOrgs {
		l.addf("constraints.executors.orgs", ErrTooLarge, "%d orgs, limit %d", len(ex.Orgs), MaxOrgs)
	} else {
		seen := map[string]bool{}
		for i, o := range ex.Orgs {
			f := fmt.Sprintf("constraints.executors.orgs[%d]", i)
			switch {
			case !validName(o, MaxOrgLen, "._-"):
				l.addf(f, ErrInvalid, "org %q: 1 to %d letters, digits or ._- starting with a letter or digit", o, MaxOrgLen)
			case seen[o]:
				l.addf(f, ErrInvalid, "org %q listed twice", o)
			}
			seen[o] = true
		}
	}
	if len(ex.Peers) > MaxPeers {
		l.addf("constraints.executors.peers", ErrTooLarge, "%d peers, limit %d", len(ex.Peers), MaxPeers)
	} else {
		seen := map[peer.ID]bool{}
		for i, p := range ex.Peers {
			f := fmt.Sprintf("constraints.executors.peers[%d]", i)
			if _, err := peer.IDFromBytes([]byte(p)); err != nil {
				l.addf(f, ErrInvalid, "peer ID: %v", err)
			} else if seen[p] {
				l.addf(f, ErrInvalid, "peer %s listed twice", p)
			}
			seen[p] = true
		}
	}
}

func validName(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i, r := range s {
		alnum := r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if !alnum && (i == 0 || !strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}
