// Package s3test runs a real S3-compatible server for tests: SeaweedFS's
// `weed server -s3` (Apache-2.0), built by scripts/seaweedfs.sh into the
// tools cache, on loopback ports, with one identity whose keys the test
// knows. It is test support only.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Keys of the server's only identity.
const (
	AccessKey = "shoaltestaccess"
	SecretKey = "shoaltestsecretkey0123456789"
)

// Server is a running S3 server.
type Server struct {
	// Endpoint is its base URL, http://127.0.0.1:PORT.
	Endpoint string
	host     string
}

// Binary returns $SHOAL_WEED, skipping the test when it is unset (failing
// it when CI=true, where scripts/tools.sh always builds it).
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("SHOAL_WEED")
	if bin == "" {
		msg := "this test needs SHOAL_WEED=path to SeaweedFS's weed (build it with: export SHOAL_WEED=$(scripts/seaweedfs.sh))"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("SHOAL_WEED=%s: %v", bin, err)
	}
	return bin
}

// freePorts returns n distinct loopback TCP ports free at the time of the
// call.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs a master, a volume server, a filer and the S3 gateway in one
// process until the test ends, and waits until S3 answers.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "s3.json")
	conf := fmt.Sprintf(`{"identities":[{"name":"shoal","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	p := freePorts(tb, 12)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+strconv.Itoa(p[0]), "-master.port.grpc="+strconv.Itoa(p[1]),
		"-volume.port="+strconv.Itoa(p[2]), "-volume.port.grpc="+strconv.Itoa(p[3]),
		"-filer", "-filer.port="+strconv.Itoa(p[4]), "-filer.port.grpc="+strconv.Itoa(p[5]),
		"-s3", "-s3.port="+strconv.Itoa(p[6]), "-s3.port.grpc="+strconv.Itoa(p[7]),
		"-s3.port.iceberg="+strconv.Itoa(p[8]), "-s3.port.lance="+strconv.Itoa(p[9]), "-metricsPort="+strconv.Itoa(p[10]),
		"-s3.config="+cfg, "-master.volumeSizeLimitMB=64", "-volume.max=8")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start weed: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(p[6]), host: "127.0.0.1:" + strconv.Itoa(p[6])}
	// Ready when a bucket can be made and listed: the filer and a volume
	// are up behind the gateway.
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := s.MakeBucket(context.Background(), "shoal-ready")
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("weed S3 not ready after 90s: %v\n%s", err, out.String())
		}
		if cmd.ProcessState != nil {
			tb.Fatalf("weed exited: %s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Client is a minio client with the server's identity.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.host, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Secure: false,
		BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		panic(err) // only on a malformed endpoint, which Start builds
	}
	return c
}

// MakeBucket creates bucket (no error if it exists).
func (s *Server) MakeBucket(ctx context.Context, bucket string) error {
	c := s.Client()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		if ok, e := c.BucketExists(ctx, bucket); e == nil && ok {
			return nil
		}
		return err
	}
	return nil
}

// Put writes an object.
func (s *Server) Put(tb testing.TB, bucket, key string, data []byte) {
	tb.Helper()
	if _, err := s.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		tb.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// Get reads an object.
func (s *Server) Get(tb testing.TB, bucket, key string) []byte {
	tb.Helper()
	o, err := s.Client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		tb.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer o.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(o); err != nil {
		tb.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	return b.Bytes()
}
