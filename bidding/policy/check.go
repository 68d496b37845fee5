package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/jobspec"
)

// Request is a job as admission sees it.
type Request struct {
	// Requester is the peer that submitted the job.
	Requester peer.ID
	// Self is true when the requester is this node: its operator's own jobs
	// pass the requester allow-list (the other rules still apply).
	Self bool
	// Orgs are the orgs the requester proved membership of with the
	// requester role (from package trust).
	Orgs []string
	// OrgProblems say why certificates it presented did not count.
	OrgProblems []string
	// Spec is the job.
	Spec *jobspec.Spec
	// Running is how many of the requester's jobs this node holds now
	// (accepted and not finished), not counting this one.
	Running int
	// Local sizes the job's content on this node (bidding.NodeView's
	// LocalBytes); nil when the node cannot tell.
	Local func(cid.Cid) (held, total int64)
}

// Check applies the policy to a job. It returns nil or a refusal whose Code
// is stable and whose Reason tells the requester what to change. The rules,
// in order: requester allow-list (requester_denied), engine
// (engine_denied), docker image (image_denied), per-job resource ceilings
// (resources_exceeded), content size (input_too_large), inputs held
// (inputs_not_held), the requester's concurrent jobs (concurrency_limit).
// The per-requester rate limit is stateful: see Limiter.
func (p *Policy) Check(r Request) *bidding.Refusal {
	if ref := p.checkRequester(r); ref != nil {
		return ref
	}
	spec := r.Spec
	if kind := spec.Engine.Kind(); len(p.Engines) > 0 && !slices.Contains(p.Engines, kind) {
		return refuse(bidding.CodeEngineDenied, "engine %s not allowed by this node's policy (allowed: %s)", kind, strings.Join(p.Engines, ", "))
	}
	if d := spec.Engine.Docker; d != nil && !p.Docker.Any() {
		if ref := p.checkImage(d); ref != nil {
			return ref
		}
	}
	if ref := p.checkResources(spec.Resources); ref != nil {
		return ref
	}
	if (p.MaxInputSize > 0 || p.LocalInputsOnly) && r.Local != nil {
		var total int64
		for _, c := range spec.ContentCIDs() {
			_, t := r.Local(c)
			total += max(t, 0)
		}
		if limit := int64(p.MaxInputSize); limit > 0 && total > limit {
			return refuse(bidding.CodeInputTooLarge, "content of %s exceeds this node's policy limit of %s", jobspec.FormatSize(total), jobspec.FormatSize(limit))
		}
		if p.LocalInputsOnly {
			for _, in := range spec.Inputs {
				if in.Remote() {
					return refuse(bidding.CodeInputsNotHeld, "this node only runs jobs whose inputs it holds, and input %s at %s is to be downloaded", in.Source(), in.Path)
				}
				if h, t := r.Local(in.CID); t <= 0 || h < t {
					return refuse(bidding.CodeInputsNotHeld, "this node only runs jobs whose inputs it holds, and input %s at %s is not here", in.CID, in.Path)
				}
			}
		}
	}
	if n := p.PerRequester.MaxConcurrent; n > 0 && r.Running >= n {
		return refuse(bidding.CodeConcurrencyLimit, "requester already has %d job(s) here, the policy's limit per requester", r.Running)
	}
	return nil
}

// CheckRequester applies the requester allow-list alone (r.Spec is not
// read): what a bidder can check of an announcement before it has the spec.
func (p *Policy) CheckRequester(r Request) *bidding.Refusal { return p.checkRequester(r) }

func (p *Policy) checkRequester(r Request) *bidding.Refusal {
	rq := p.Requesters
	if r.Self || rq.Anyone() || rq.allowsPeer(r.Requester) {
		return nil
	}
	for _, o := range r.Orgs {
		if slices.Contains(rq.Orgs, o) {
			return nil
		}
	}
	var msg string
	switch {
	case len(rq.Orgs) == 0:
		msg = fmt.Sprintf("requester %s not in allowed peers", short(r.Requester))
	case len(rq.Peers) == 0:
		msg = fmt.Sprintf("requester not in allowed orgs [%s]", strings.Join(rq.Orgs, " "))
	default:
		msg = fmt.Sprintf("requester not in allowed peers or orgs [%s]", strings.Join(rq.Orgs, " "))
	}
	if len(rq.Orgs) > 0 {
		// Explain the certificate that came closest: one for an allowed org.
		why := ""
		for _, pr := range r.OrgProblems {
			for _, o := range rq.Orgs {
				if strings.HasPrefix(pr, "certificate for "+o+" ") {
					why = pr
				}
			}
		}
		switch {
		case why != "":
			msg += ": " + why
		case len(r.Orgs) > 0:
			msg += fmt.Sprintf(": member of [%s] only", strings.Join(r.Orgs, " "))
		case len(r.OrgProblems) > 0:
			msg += ": " + r.OrgProblems[0]
		default:
			msg += ": no certificate presented"
		}
	}
	return refuse(bidding.CodeRequesterDenied, "%s", msg)
}

func (p *Policy) checkImage(d *jobspec.Docker) *bidding.Refusal {
	if d.ImageCID.Defined() {
		for _, s := range p.Docker.ImageCIDs {
			if c, err := cid.Decode(s); err == nil && string(c.Hash()) == string(d.ImageCID.Hash()) {
				return nil
			}
		}
		return refuse(bidding.CodeImageDenied, "image CID %s not in this node's image allow-list", d.ImageCID)
	}
	if ImageAllowed(p.Docker.Images, d.Image) {
		return nil
	}
	return refuse(bidding.CodeImageDenied, "image %s not in this node's image allow-list [%s]", d.Image, strings.Join(p.Docker.Images, " "))
}

func (p *Policy) checkResources(need jobspec.Resources) *bidding.Refusal {
	c := p.MaxResources
	var over []string
	if c.CPU > 0 && need.MilliCPU > int64(c.CPU) {
		over = append(over, fmt.Sprintf("cpu %s (ceiling %s)", jobspec.FormatCPU(need.MilliCPU), jobspec.FormatCPU(int64(c.CPU))))
	}
	if c.Memory > 0 && need.Memory > int64(c.Memory) {
		over = append(over, fmt.Sprintf("memory %s (ceiling %s)", jobspec.FormatSize(need.Memory), jobspec.FormatSize(int64(c.Memory))))
	}
	if c.Disk > 0 && need.Disk > int64(c.Disk) {
		over = append(over, fmt.Sprintf("disk %s (ceiling %s)", jobspec.FormatSize(need.Disk), jobspec.FormatSize(int64(c.Disk))))
	}
	if len(over) == 0 {
		return nil
	}
	return refuse(bidding.CodeResourcesExceeded, "job asks %s: over this node's per-job policy", strings.Join(over, ", "))
}

// ImageAllowed reports whether image matches one of the patterns, where *
// matches any run of characters ("/" included). A name without a tag or
// digest is also tried with ":latest".
func ImageAllowed(patterns []string, image string) bool {
	names := []string{image}
	if !strings.Contains(image, "@") && !strings.Contains(image[strings.LastIndex(image, "/")+1:], ":") {
		names = append(names, image+":latest")
	}
	for _, p := range patterns {
		for _, n := range names {
			if glob(p, n) {
				return true
			}
		}
	}
	return false
}

// glob matches s against a pattern where * is any run of characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func refuse(code bidding.Code, format string, args ...any) *bidding.Refusal {
	return &bidding.Refusal{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func short(p peer.ID) string {
	s := p.String()
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}
