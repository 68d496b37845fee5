package fetchurl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is a loopback HTTP server whose routes cover what the download
// policy must handle; gets counts the full (200) answers of /data.
type server struct {
	*httptest.Server
	gets atomic.Int64
}

var payload = bytes.Repeat([]byte("shoal "), 1000) // 6000 bytes

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.gets.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
		w.Write(payload)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/data", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the bound is found while reading.
		for range 100 {
			w.Write(payload)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6000")
		w.Write(payload[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		// Announces more than it sends, then closes the connection.
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 6000\r\nConnection: close\r\n\r\n%s", payload[:10])
		buf.Flush()
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		// Announces less than it sends: only the announced bytes count.
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n%s", payload)
		buf.Flush()
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, p Policy, url string, v Validators) (Result, []byte, error) {
	t.Helper()
	c := New(p)
	defer c.Close()
	var buf bytes.Buffer
	res, err := c.Get(context.Background(), url, &buf, v)
	return res, buf.Bytes(), err
}

func TestGet(t *testing.T) {
	s := newServer(t)
	open := Policy{AllowPrivate: true, MaxBytes: 10000, MaxBytesName: "jobs.max_input_bytes"}
	res, got, err := get(t, open, s.URL+"/redirect", Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) || res.Size != int64(len(payload)) || res.ETag != `"v1"` || res.LastModified == "" || !strings.HasSuffix(res.URL, "/data") {
		t.Fatalf("res = %+v, %d bytes", res, len(got))
	}
	// The same validator again: 304, nothing downloaded.
	res2, got2, err := get(t, open, s.URL+"/data", res.Validators)
	if err != nil || !res2.NotModified || len(got2) != 0 || res2.ETag != `"v1"` {
		t.Fatalf("conditional get: %+v, %d bytes, %v", res2, len(got2), err)
	}
	if n := s.gets.Load(); n != 1 {
		t.Fatalf("server sent the content %d times, want 1", n)
	}
	// Announcing less than it sends: only the announced bytes are read.
	res3, got3, err := get(t, open, s.URL+"/long", Validators{})
	if err != nil || res3.Size != 10 || len(got3) != 10 {
		t.Fatalf("long: %+v, %d bytes, %v", res3, len(got3), err)
	}
}

func TestGetRefusals(t *testing.T) {
	s := newServer(t)
	open := Policy{AllowPrivate: true, MaxBytes: 10000, MaxBytesName: "jobs.max_input_bytes",
		StallTimeout: 300 * time.Millisecond}
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	cases := []struct {
		name   string
		policy Policy
		url    string
		want   error
		msg    string
	}{
		{"loopback refused", Policy{}, s.URL + "/data", ErrPrivate, "127.0.0.1 is not a public address"},
		{"localhost refused after resolution", Policy{}, "http://localhost:" + port + "/data", ErrPrivate, "not a public address"},
		{"unsupported scheme", open, "ftp://127.0.0.1/x", ErrScheme, `"ftp"`},
		{"redirect to another scheme", open, s.URL + "/to-file", ErrScheme, `"file"`},
		{"redirect loop", open, s.URL + "/loop", ErrRedirects, "more than 5"},
		{"announced too large", Policy{AllowPrivate: true, MaxBytes: 1000, MaxBytesName: "jobs.max_input_bytes"}, s.URL + "/data", ErrTooLarge, "announced 6000 bytes, more than jobs.max_input_bytes"},
		{"sends too much", open, s.URL + "/chunked", ErrTooLarge, "sent at least 10001 bytes"},
		{"lying content length", open, s.URL + "/short", ErrTruncated, "announced 6000 bytes and sent 10"},
		{"slow body", open, s.URL + "/slow-body", ErrTimeout, "sent nothing for 300ms"},
		{"slow headers", open, s.URL + "/slow-headers", ErrTimeout, ""},
		{"not found", open, s.URL + "/missing", ErrStatus, "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := get(t, tc.policy, tc.url, Validators{})
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	// The server is unharmed: a good download still works.
	if _, got, err := get(t, open, s.URL+"/data", Validators{}); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("after the refusals: %v", err)
	}
}

func TestPublic(t *testing.T) {
	cases := map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true,
		"127.0.0.1": false, "127.5.5.5": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::": false,
		"fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"224.0.0.1": false, "255.255.255.255": false, "64:ff9b::7f00:1": false, "2002:7f00:1::": false,
		"198.18.0.1": false,
	}
	for s, want := range cases {
		t.Run(s, func(t *testing.T) {
			if got := Public(netip.MustParseAddr(s)); got != want {
				t.Fatalf("Public(%s) = %v, want %v", s, got, want)
			}
		})
	}
}

// TestDialCheckRunsOnResolvedAddress checks the dial-time hook directly:
// whatever name was asked for, the address dialled decides.
func TestDialCheckRunsOnResolvedAddress(t *testing.T) {
	d := Dialer(false)
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "10.0.0.1:443", "[::ffff:192.168.0.1]:80"} {
		if err := d.Control("tcp", addr, nil); !errors.Is(err, ErrPrivate) {
			t.Errorf("%s: %v, want ErrPrivate", addr, err)
		}
	}
	if err := d.Control("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	if Dialer(true).Control != nil {
		t.Error("allowPrivate still checks")
	}
}
