package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalnet/shoal/bidding/policy"
	"github.com/shoalnet/shoal/bidding/trust"
	"github.com/shoalnet/shoal/node"
)

// PolicyResponse is GET and PUT /policy: the effective admission policy,
// as configured and described rule by rule.
type PolicyResponse struct {
	Policy policy.Policy `json:"policy"`
	Lines  []policy.Line `json:"lines"`
	// Trusted lists the orgs whose certificates count here.
	Trusted []string `json:"trusted_orgs"`
	// Deny is the deny-list.
	Deny []string `json:"deny"`
}

// DenyResponse is POST /orgs/deny.
type DenyResponse struct {
	Entry   string `json:"entry"`
	Removed bool   `json:"removed,omitempty"`
}

// maxCertBody bounds a certificate file sent to POST /orgs/join.
const maxCertBody = 16 << 10

func (s *Server) orgRoutes() {
	s.Handle("GET /orgs", s.orgList)
	s.Handle("POST /orgs/join", s.orgJoin)
	s.Handle("POST /orgs/deny", s.orgDeny)
	s.Handle("POST /orgs/{name}/init", s.orgInit)
	s.Handle("POST /orgs/{name}/issue", s.orgIssue)
	s.Handle("POST /orgs/{name}/leave", s.orgLeave)
	s.Handle("POST /orgs/{name}/trust", s.orgTrust)
	s.Handle("POST /orgs/{name}/untrust", s.orgUntrust)
	s.Handle("GET /policy", s.policyGet)
	s.Handle("PUT /policy", s.policyPut)
	s.Handle("GET /policy/peers", s.policyPeers)
}

// orgError maps trust errors: a missing key or certificate is not_found,
// anything else the caller got wrong is bad_request.
func orgError(err error) error {
	var e *Error
	switch {
	case err == nil || errors.As(err, &e):
		return err
	case errors.Is(err, node.ErrNoOrgKey), errors.Is(err, node.ErrNoSuchCert):
		return Errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	}
	return BadRequest("%v", err)
}

func (s *Server) orgList(w http.ResponseWriter, r *http.Request) error {
	info, err := s.n.OrgInfo()
	if err != nil {
		return orgError(err)
	}
	writeJSON(w, info)
	return nil
}

func (s *Server) orgInit(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var pub string
	err := s.n.UpdateOrgs(func(o *node.OrgStore) (err error) {
		pub, err = o.Init(name)
		return err
	})
	if err != nil {
		return orgError(err)
	}
	writeJSON(w, node.OrgKeyInfo{Name: name, PublicKey: pub})
	return nil
}

// orgIssue signs a certificate: ?peer=ID&role=requester|executor|both&expires=720h.
func (s *Server) orgIssue(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := peer.Decode(q.Get("peer"))
	if err != nil {
		return BadRequest("invalid peer %q: want a peer ID (12D3Koo…): %v", q.Get("peer"), err)
	}
	role := trust.RoleBoth
	if v := q.Get("role"); v != "" {
		if role, err = trust.ParseRole(v); err != nil {
			return BadRequest("%v", err)
		}
	}
	ttl := trust.DefaultValidity
	if v := q.Get("expires"); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 {
			return BadRequest("invalid expires %q: want a duration like 720h", v)
		}
	}
	store := s.n.OrgStore()
	if store == nil {
		return BadRequest("this node has no repo")
	}
	c, err := store.Issue(r.PathValue("name"), p, role, ttl)
	if err != nil {
		return orgError(err)
	}
	info := node.CertInfo{ID: c.ID().String(), Org: c.Org, OrgKey: c.OrgKeyString(), Peer: c.Peer.String(), Role: string(c.Role),
		Issued: c.Issued, Expires: c.Expires, PEM: string(c.EncodePEM())}
	writeJSON(w, info)
	return nil
}

// orgJoin installs the certificate file in the body.
func (s *Server) orgJoin(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCertBody+1))
	if err != nil {
		return BadRequest("read certificate: %v", err)
	}
	if len(body) > maxCertBody {
		return BadRequest("certificate file larger than %d bytes", maxCertBody)
	}
	var c *trust.Cert
	err = s.n.UpdateOrgs(func(o *node.OrgStore) (err error) {
		c, err = o.Join(body)
		return err
	})
	if err != nil {
		return orgError(err)
	}
	writeJSON(w, node.CertInfo{ID: c.ID().String(), Org: c.Org, OrgKey: c.OrgKeyString(), Peer: c.Peer.String(), Role: string(c.Role),
		Issued: c.Issued, Expires: c.Expires})
	return nil
}

func (s *Server) orgLeave(w http.ResponseWriter, r *http.Request) error {
	return done(w, s.n.UpdateOrgs(func(o *node.OrgStore) error { return o.Leave(r.PathValue("name")) }))
}

// orgTrust trusts ?key= for the org.
func (s *Server) orgTrust(w http.ResponseWriter, r *http.Request) error {
	return done(w, s.n.UpdateOrgs(func(o *node.OrgStore) error { return o.Trust(r.PathValue("name"), r.URL.Query().Get("key")) }))
}

func (s *Server) orgUntrust(w http.ResponseWriter, r *http.Request) error {
	return done(w, s.n.UpdateOrgs(func(o *node.OrgStore) error { return o.Untrust(r.PathValue("name")) }))
}

// orgDeny adds ?id= (a peer or certificate ID) to the deny-list, or takes
// it off with &remove=1.
func (s *Server) orgDeny(w http.ResponseWriter, r *http.Request) error {
	remove := r.URL.Query().Get("remove") != ""
	var entry string
	err := s.n.UpdateOrgs(func(o *node.OrgStore) (err error) {
		entry, err = o.Deny(r.URL.Query().Get("id"), remove)
		return err
	})
	if err != nil {
		return orgError(err)
	}
	writeJSON(w, DenyResponse{Entry: entry, Removed: remove})
	return nil
}

func (s *Server) policyResponse() PolicyResponse {
	orgs, deny := s.n.TrustRoots()
	return PolicyResponse{Policy: s.n.Policy(), Lines: s.n.PolicyLines(), Trusted: append([]string{}, orgs...), Deny: append([]string{}, deny...)}
}

func (s *Server) policyGet(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, s.policyResponse())
	return nil
}

// policyPut replaces the policy with the JSON document in the body.
func (s *Server) policyPut(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, policy.MaxDocumentSize+1))
	if err != nil {
		return BadRequest("read policy: %v", err)
	}
	p, err := policy.Parse(body)
	if err != nil {
		return BadRequest("%v", err)
	}
	if err := s.n.SetPolicy(p); err != nil {
		return BadRequest("%v", err)
	}
	writeJSON(w, s.policyResponse())
	return nil
}

func (s *Server) policyPeers(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, s.n.PeerAbuse())
	return nil
}

// done writes an empty JSON object for a change that succeeded.
func done(w http.ResponseWriter, err error) error {
	if err != nil {
		return orgError(err)
	}
	writeJSON(w, struct{}{})
	return nil
}
