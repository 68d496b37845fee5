package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ipfs/boxo/files"
)

// AddParams are the import settings of Client.Add (kubo's flags).
type AddParams struct {
	CIDVersion *int
	RawLeaves  *bool
	Chunker    string
	MaxLinks   int
	Pin        bool
}

func (p AddParams) query() url.Values {
	q := url.Values{}
	if p.CIDVersion != nil {
		q.Set("cid-version", strconv.Itoa(*p.CIDVersion))
	}
	if p.RawLeaves != nil {
		q.Set("raw-leaves", strconv.FormatBool(*p.RawLeaves))
	}
	if p.Chunker != "" {
		q.Set("chunker", p.Chunker)
	}
	if p.MaxLinks > 0 {
		q.Set("max-links", strconv.Itoa(p.MaxLinks))
	}
	q.Set("pin", strconv.FormatBool(p.Pin))
	return q
}

// Add streams the entries of dir to the daemon, which imports each as UnixFS
// and returns its CID. progress (may be nil) gets the bytes read so far.
func (c *Client) Add(ctx context.Context, dir files.Directory, p AddParams, progress func(int64)) ([]AddEvent, error) {
	mfr := files.NewMultiFileReader(dir, true, false)
	resp, err := c.Do(ctx, http.MethodPost, "/add", p.query(), mfr, "multipart/form-data; boundary="+mfr.Boundary())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var added []AddEvent
	err = drain(resp.Body, func(e AddEvent) error {
		if e.Error != nil {
			return e.Error
		}
		if progress != nil {
			progress(e.Bytes)
		}
		if e.CID != "" {
			added = append(added, e)
		}
		return nil
	})
	return added, err
}

// Fetch makes cid local on the daemon, reporting progress.
func (c *Client) Fetch(ctx context.Context, cid string, progress func(FetchEvent)) (*FetchEvent, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/fetch", url.Values{"arg": {cid}}, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var last *FetchEvent
	err = drain(resp.Body, func(e FetchEvent) error {
		if e.Error != nil {
			return e.Error
		}
		if progress != nil {
			progress(e)
		}
		if e.Done {
			last = &e
		}
		return nil
	})
	if err == nil && last == nil {
		err = fmt.Errorf("fetch %s: stream ended early", cid)
	}
	return last, err
}

// Cat returns the bytes of a UnixFS file.
func (c *Client) Cat(ctx context.Context, cid string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/cat", url.Values{"arg": {cid}}, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// GetTar returns a tar archive of the DAG, its top entry named name.
func (c *Client) GetTar(ctx context.Context, cid, name string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/get", url.Values{"arg": {cid}, "name": {name}}, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Ls lists a directory.
func (c *Client) Ls(ctx context.Context, cid string) ([]LsEntry, error) {
	var r []LsEntry
	return r, c.GetJSON(ctx, "/ls", url.Values{"arg": {cid}}, &r)
}

// Stat describes a DAG.
func (c *Client) Stat(ctx context.Context, cid string) (*StatResponse, error) {
	var r StatResponse
	return &r, c.GetJSON(ctx, "/stat", url.Values{"arg": {cid}}, &r)
}

// PinAdd pins cid (fetching it first if needed).
func (c *Client) PinAdd(ctx context.Context, cid string, recursive bool) error {
	return c.JSON(ctx, http.MethodPost, "/pin/add", url.Values{"arg": {cid}, "recursive": {strconv.FormatBool(recursive)}}, nil, nil)
}

// PinRm removes the pin of cid.
func (c *Client) PinRm(ctx context.Context, cid string) error {
	return c.JSON(ctx, http.MethodPost, "/pin/rm", url.Values{"arg": {cid}}, nil, nil)
}

// PinLs lists pins.
func (c *Client) PinLs(ctx context.Context) ([]PinEntry, error) {
	var r []PinEntry
	return r, c.GetJSON(ctx, "/pin/ls", nil, &r)
}

// GC removes unpinned blocks.
func (c *Client) GC(ctx context.Context) (*GCResponse, error) {
	var r GCResponse
	return &r, c.JSON(ctx, http.MethodPost, "/gc", nil, nil, &r)
}

// DirMake builds a directory of links to the given CIDs without fetching
// them (POST /dir/make) and returns its CID.
func (c *Client) DirMake(ctx context.Context, links []DirLink) (string, error) {
	var r DirResponse
	return r.CID, c.JSON(ctx, http.MethodPost, "/dir/make", nil, links, &r)
}

// DirAddLink returns the CID of directory dir with name → cid added
// (POST /dir/add-link).
func (c *Client) DirAddLink(ctx context.Context, dir, name, cid string, replace bool) (string, error) {
	var r DirResponse
	q := url.Values{"arg": {dir}, "name": {name}, "cid": {cid}, "replace": {strconv.FormatBool(replace)}}
	return r.CID, c.JSON(ctx, http.MethodPost, "/dir/add-link", q, nil, &r)
}

// DirRmLink returns the CID of directory dir without name
// (POST /dir/rm-link).
func (c *Client) DirRmLink(ctx context.Context, dir, name string) (string, error) {
	var r DirResponse
	return r.CID, c.JSON(ctx, http.MethodPost, "/dir/rm-link", url.Values{"arg": {dir}, "name": {name}}, nil, &r)
}
