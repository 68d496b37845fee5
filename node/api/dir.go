package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/content"
)

// DirLink is one entry of a directory built by POST /dir/make.
type DirLink struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
}

// DirResponse is the directory made or edited by the /dir routes.
type DirResponse struct {
	CID string `json:"cid"`
}

// maxDirBody bounds the body of POST /dir/make (content.MaxDirLinks
// entries of a name and a CID fit).
const maxDirBody = 128 << 20

func (s *Server) dirRoutes() {
	s.Handle("POST /dir/make", s.dirMake)
	s.Handle("POST /dir/add-link", s.dirAddLink)
	s.Handle("POST /dir/rm-link", s.dirRmLink)
}

func (s *Server) dirMake(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDirBody+1))
	if err != nil {
		return BadRequest("read entries: %v", err)
	}
	if len(body) > maxDirBody {
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "entries larger than %d bytes", maxDirBody)
	}
	var in []DirLink
	if err := json.Unmarshal(body, &in); err != nil {
		return BadRequest("entries: want a JSON array of {\"name\", \"cid\"}: %v", err)
	}
	links := make([]content.Link, len(in))
	for i, l := range in {
		c, err := content.ParseCID(l.CID)
		if err != nil {
			return BadRequest("entry %q: %v", l.Name, err)
		}
		links[i] = content.Link{Name: l.Name, CID: c}
	}
	c, err := s.n.Content.MakeDir(r.Context(), links)
	if err != nil {
		return dirError(err)
	}
	writeJSON(w, DirResponse{CID: c.String()})
	return nil
}

// dirArgs reads ?arg=DIR&name=NAME and, with withCID, &cid=CID.
func dirArgs(r *http.Request, withCID bool) (dir cid.Cid, name string, c cid.Cid, err error) {
	if dir, err = argCID(r); err != nil {
		return
	}
	q := r.URL.Query()
	if name = q.Get("name"); name == "" {
		err = BadRequest("missing ?name=ENTRY")
		return
	}
	if withCID {
		if c, err = content.ParseCID(q.Get("cid")); err != nil {
			err = BadRequest("cid: %v", err)
		}
	}
	return
}

func (s *Server) dirAddLink(w http.ResponseWriter, r *http.Request) error {
	dir, name, c, err := dirArgs(r, true)
	if err != nil {
		return err
	}
	replace := false
	if v := r.URL.Query().Get("replace"); v != "" {
		if replace, err = strconv.ParseBool(v); err != nil {
			return BadRequest("invalid replace %q: use true or false", v)
		}
	}
	out, err := s.n.Content.AddLink(r.Context(), dir, name, c, replace)
	if err != nil {
		return dirError(err)
	}
	writeJSON(w, DirResponse{CID: out.String()})
	return nil
}

func (s *Server) dirRmLink(w http.ResponseWriter, r *http.Request) error {
	dir, name, _, err := dirArgs(r, false)
	if err != nil {
		return err
	}
	out, err := s.n.Content.RmLink(r.Context(), dir, name)
	if err != nil {
		return dirError(err)
	}
	writeJSON(w, DirResponse{CID: out.String()})
	return nil
}

// dirError maps the errors of the /dir routes: a name that exists is a
// conflict, a name missing or refused by CheckName the caller's mistake.
func dirError(err error) error {
	switch {
	case errors.Is(err, content.ErrLinkExists):
		return Errorf(http.StatusConflict, CodeConflict, "%v", err)
	case errors.Is(err, content.ErrNoLink):
		return Errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, content.ErrBadName), errors.Is(err, content.ErrDuplicateName), errors.Is(err, content.ErrNotADirectory):
		return BadRequest("%v", err)
	}
	return contentError(err)
}
