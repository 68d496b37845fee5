package publish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoalnet/shoal/content/fetchurl"
)

// ErrKubo is matched by the errors of Kubo.Push that come from the remote
// node's answer.
var ErrKubo = errors.New("publish: kubo refused the CAR")

// maxKuboAnswer bounds what is read of the RPC API's answer.
const maxKuboAnswer = 1 << 20

// Kubo pushes DAGs to kubo RPC APIs.
type Kubo struct {
	http *http.Client
}

// NewKubo returns a pusher whose connections obey the destination policy
// (allowPrivate: inputs.allow_private).
func NewKubo(allowPrivate bool) *Kubo {
	tr := &http.Transport{Proxy: nil, DialContext: fetchurl.DialContext(allowPrivate),
		TLSHandshakeTimeout: 30 * time.Second, IdleConnTimeout: 90 * time.Second}
	return &Kubo{http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // an RPC API does not redirect
	}}}
}

// Push streams the CAR that writeCAR writes (whose root is root) to the
// kubo RPC API at api (http://host:5001) as `ipfs dag import
// --pin-roots`, and checks that kubo pinned root.
func (k *Kubo) Push(ctx context.Context, api string, root cid.Cid, writeCAR func(io.Writer) error) error {
	u, err := url.Parse(strings.TrimRight(api, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("publish: kubo API %q: want http(s)://host:port", api)
	}
	u.Path += "/api/v0/dag/import"
	u.RawQuery = url.Values{"pin-roots": {"true"}, "stats": {"false"}}.Encode()

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "outputs.car")
		if err == nil {
			err = writeCAR(part)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), pr)
	if err != nil {
		pr.Close()
		return fmt.Errorf("publish: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := k.http.Do(req)
	if err != nil {
		pr.Close()
		return fmt.Errorf("publish: push to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxKuboAnswer)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return fmt.Errorf("%w: %s answered %s: %s", ErrKubo, u.Host, resp.Status, strings.TrimSpace(string(msg)))
	}
	// One JSON object per line: {"Root": {"Cid": {"/": ...}, "PinErrorMsg": ...}}.
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), maxKuboAnswer)
	pinned := false
	for sc.Scan() {
		var line struct {
			Root *struct {
				Cid struct {
					Slash string `json:"/"`
				}
				PinErrorMsg string
			}
			Message string
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("%w: unreadable answer from %s: %v", ErrKubo, u.Host, err)
		}
		if line.Message != "" {
			return fmt.Errorf("%w: %s: %s", ErrKubo, u.Host, line.Message)
		}
		if line.Root == nil {
			continue
		}
		c, err := cid.Decode(line.Root.Cid.Slash)
		if err != nil || !bytes.Equal(c.Hash(), root.Hash()) {
			continue
		}
		if line.Root.PinErrorMsg != "" {
			return fmt.Errorf("%w: %s could not pin %s: %s", ErrKubo, u.Host, root, line.Root.PinErrorMsg)
		}
		pinned = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("publish: read the answer of %s: %w", u.Host, err)
	}
	if !pinned {
		return fmt.Errorf("%w: %s did not report %s as pinned", ErrKubo, u.Host, root)
	}
	return nil
}
