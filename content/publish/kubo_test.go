package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"

	"github.com/shoalnet/shoal/content"
	"github.com/shoalnet/shoal/internal/kubotest"
)

func newStore(t *testing.T) *content.Store {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s, err := content.New(context.Background(), content.Config{Host: h, Datastore: dssync.MutexWrap(ds.NewMapDatastore())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestKuboPush pushes an outputs tree to a real kubo through its RPC API:
// kubo pins the root and serves the same bytes (`ipfs cat`), and its CID
// for the tree equals ours.
func TestKuboPush(t *testing.T) {
	k := kubotest.Start(t)
	s := newStore(t)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB: several blocks
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "result.txt"), []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nd, err := content.OpenPath(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := s.Add(ctx, nd, content.AddOptions{Pin: true})
	if err != nil {
		t.Fatal(err)
	}
	push := NewKubo(true)
	if err := push.Push(ctx, k.APIURL(t), root, func(w io.Writer) error { return s.ExportCAR(ctx, root, w) }); err != nil {
		t.Fatal(err)
	}
	pins := string(k.Run(t, nil, "pin", "ls", "--type=recursive", root.String()))
	if !strings.Contains(pins, root.String()) {
		t.Fatalf("kubo pin ls: %s", pins)
	}
	if got := k.Run(t, nil, "cat", root.String()+"/sub/big.bin"); !bytes.Equal(got, big) {
		t.Fatalf("kubo serves %d bytes, want %d", len(got), len(big))
	}
	if got := strings.TrimSpace(string(k.Run(t, nil, "add", "-Q", "-r", "--cid-version=1", dir))); got != root.String() {
		t.Fatalf("kubo's CID of the tree %s, ours %s", got, root)
	}
}

// TestKuboPushRefusals: a private API address without the policy is
// refused at dial time, and a CAR whose blocks are missing fails with the
// error of the export, never as a success.
func TestKuboPushRefusals(t *testing.T) {
	k := kubotest.Start(t)
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := s.Add(ctx, files.NewBytesFile([]byte("hello")), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	export := func(w io.Writer) error { return s.ExportCAR(ctx, root, w) }
	if err := NewKubo(false).Push(ctx, k.APIURL(t), root, export); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("push to loopback without allow_private: %v", err)
	}
	missing := cid.MustParse("bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya")
	err = NewKubo(true).Push(ctx, k.APIURL(t), missing, func(w io.Writer) error { return s.ExportCAR(ctx, missing, w) })
	if err == nil {
		t.Fatal("push of a DAG that is not here succeeded")
	}
	if !errors.Is(err, ErrKubo) && !strings.Contains(err.Error(), "not found") {
		t.Logf("push of a missing DAG: %v", err)
	}
}
