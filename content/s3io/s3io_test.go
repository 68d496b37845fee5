package s3io

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/shoalnet/shoal/internal/s3test"
)

func client(s *s3test.Server, allowPrivate bool) *Client {
	return New(Config{Endpoint: s.Endpoint, Region: "us-east-1", AllowPrivate: allowPrivate,
		Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
}

// TestS3RoundTrip against a real SeaweedFS: a key downloads as a file, a
// prefix as a tree; an upload puts every file and the index last; the
// bounds hold.
func TestS3RoundTrip(t *testing.T) {
	s := s3test.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.MakeBucket(ctx, "data"); err != nil {
		t.Fatal(err)
	}
	s.Put(t, "data", "one.csv", []byte("a,b\n1,2\n"))
	s.Put(t, "data", "run/x.txt", []byte("x"))
	s.Put(t, "data", "run/deep/y.txt", []byte("yy"))
	c := client(s, false) // the configured endpoint: allowed although loopback
	dir := t.TempDir()

	d, err := c.Download(ctx, Object{Bucket: "data", Key: "one.csv"}, filepath.Join(dir, "one.csv"), 1<<20, "jobs.max_input_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "one.csv")); string(got) != "a,b\n1,2\n" || d.ETag == "" || d.Size != 8 {
		t.Fatalf("key: %+v %q", d, got)
	}
	d, err = c.Download(ctx, Object{Bucket: "data", Prefix: "run/"}, filepath.Join(dir, "run"), 1<<20, "jobs.max_input_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "run", "deep", "y.txt")); string(got) != "yy" || d.Objects != 2 || d.Size != 3 {
		t.Fatalf("prefix: %+v %q", d, got)
	}
	_, err = c.Download(ctx, Object{Bucket: "data", Prefix: "run/"}, filepath.Join(dir, "small"), 2, "jobs.max_input_bytes")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "jobs.max_input_bytes") {
		t.Fatalf("prefix over the bound: %v", err)
	}
	if _, err = c.Download(ctx, Object{Bucket: "data", Prefix: "nothing/"}, filepath.Join(dir, "none"), 0, ""); !errors.Is(err, ErrNoObjects) {
		t.Fatalf("empty prefix: %v", err)
	}

	// Another endpoint named by a job gets no credentials, and a private
	// one is refused without the policy.
	other := New(Config{Endpoint: "https://s3.example.org", Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
	if _, err := other.Download(ctx, Object{Bucket: "data", Key: "one.csv", Endpoint: s.Endpoint}, filepath.Join(dir, "o"), 0, ""); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("job-named private endpoint: %v", err)
	}
	anon := New(Config{Endpoint: "https://s3.example.org", AllowPrivate: true, Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
	if _, err := anon.Download(ctx, Object{Bucket: "data", Key: "one.csv", Endpoint: s.Endpoint}, filepath.Join(dir, "o"), 0, ""); err == nil {
		t.Fatal("a job-named endpoint got the node's credentials (the anonymous request should be denied)")
	}

	// Upload a tree, then the index.
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "sub"), 0o755)
	os.WriteFile(filepath.Join(out, "a.txt"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(out, "sub", "b.txt"), bytes.Repeat([]byte("B"), 10000), 0o644)
	if err := s.MakeBucket(ctx, "results"); err != nil {
		t.Fatal(err)
	}
	n, err := c.Upload(ctx, Location{Bucket: "results", Prefix: "jobs/1"}, out, "index.json", []byte(`{"outputs":"x"}`))
	if err != nil || n != 3 {
		t.Fatalf("upload: %d %v", n, err)
	}
	if got := s.Get(t, "results", "jobs/1/sub/b.txt"); len(got) != 10000 {
		t.Fatalf("uploaded b.txt has %d bytes", len(got))
	}
	if got := s.Get(t, "results", "jobs/1/index.json"); string(got) != `{"outputs":"x"}` {
		t.Fatalf("index %q", got)
	}
}

func TestRelName(t *testing.T) {
	for k, ok := range map[string]bool{"a/b.txt": true, "x": true, "../x": false, "a/../b": false, "a//b": false, "": false, "./a": false} {
		if _, err := relName(k); (err == nil) != ok {
			t.Errorf("relName(%q): %v", k, err)
		}
	}
}
