package content

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/shoalnet/shoal/internal/kubotest"
)

const benchFetchSize = 256 << 20

// BenchmarkFetch256MiB fetches a 256 MiB file between two Stores on two
// hosts over loopback TCP (new content each round, so every round is a first
// fetch), and copies the same number of bytes over a plain loopback TCP
// connection in the same run as the baseline. It reports fetch-MiB/s,
// tcp-MiB/s and their ratio, with the Stores laid out as a daemon's repo
// (pebble/: large blocks as files, the rest in pebble with PebbleOptions),
// with every block in pebble (pebble-lsm-only/, the layout before) and, to
// separate storage from transfer, on in-memory datastores. With
// SHOAL_KUBO set, kubo/ times kubo -> kubo `ipfs cat` of 256 MiB too.
//
//	go test -run '^$' -bench Fetch256MiB -benchtime 3x ./content
func BenchmarkFetch256MiB(b *testing.B) {
	tcpRate := tcpBaseline(b, benchFetchSize)
	b.Run("pebble", func(b *testing.B) {
		nodes := newTestNodes(b, 2, false, testOpts{})
		benchFetch(b, nodes[0].store, nodes[1].store, nodes[0].info(), tcpRate)
	})
	b.Run("pebble-lsm-only", func(b *testing.B) {
		// Every block in pebble, as before large blocks became files.
		nodes := newTestNodes(b, 2, false, testOpts{blocksInDatastore: true})
		benchFetch(b, nodes[0].store, nodes[1].store, nodes[0].info(), tcpRate)
	})
	b.Run("memory", func(b *testing.B) {
		mk := func() (*Store, peer.AddrInfo) {
			h := newHost(b)
			s, err := New(context.Background(), Config{Host: h, Datastore: dssync.MutexWrap(datastore.NewMapDatastore())})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
		}
		a, ai := mk()
		c, _ := mk()
		benchFetch(b, a, c, ai, tcpRate)
	})
	if os.Getenv("SHOAL_KUBO") != "" {
		b.Run("kubo", func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += kuboToKubo(b, benchFetchSize)
			}
			rate := mibPerSec(int64(b.N)*benchFetchSize, total)
			b.ReportMetric(rate, "fetch-MiB/s")
			b.ReportMetric(tcpRate, "tcp-MiB/s")
			b.ReportMetric(rate/tcpRate, "fetch/tcp")
		})
	}
}

// benchFetch adds new content on a and times c's Fetch of it, b.N times.
func benchFetch(b *testing.B, a, c *Store, ai peer.AddrInfo, tcpRate float64) {
	ctx := context.Background()
	var fetchTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		root, err := a.Add(ctx, files.NewReaderFile(randReader(uint64(1000+i), benchFetchSize)), AddOptions{Pin: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := c.Fetch(ctx, root, FetchOptions{Providers: []peer.AddrInfo{ai}}); err != nil {
			b.Fatal(err)
		}
		fetchTime += time.Since(start)
		b.StopTimer()
		if st, err := c.Stat(ctx, root); err != nil || !st.Local || st.Size != benchFetchSize {
			b.Fatalf("after fetch: %+v %v", st, err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := mibPerSec(int64(b.N)*benchFetchSize, fetchTime)
	b.SetBytes(benchFetchSize)
	b.ReportMetric(rate, "fetch-MiB/s")
	b.ReportMetric(tcpRate, "tcp-MiB/s")
	b.ReportMetric(rate/tcpRate, "fetch/tcp")
}

// tcpBaseline copies n bytes over a loopback TCP connection and returns the
// rate in MiB/s.
func tcpBaseline(tb testing.TB, n int64) float64 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	buf := randBytes(5, 1<<20)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for sent := int64(0); sent < n; sent += int64(len(buf)) {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	got, err := io.Copy(io.Discard, conn)
	if err != nil || got != n {
		tb.Fatalf("tcp baseline copied %d of %d bytes: %v", got, n, err)
	}
	return mibPerSec(n, time.Since(start))
}

// kuboToKubo adds n bytes to one kubo daemon and times `ipfs cat` of them on
// another, connected over loopback.
func kuboToKubo(tb testing.TB, n int64) time.Duration {
	tb.Helper()
	k1, k2 := kubotest.Start(tb), kubotest.Start(tb)
	p := filepath.Join(tb.TempDir(), "data")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(f, randReader(78, n)); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	root := k1.Add(tb, p, "--cid-version=1")
	k2.Run(tb, nil, "swarm", "connect", k1.P2PAddr())
	cmd := k2.Command(context.Background(), "cat", root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	got, err := io.Copy(io.Discard, out)
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil || got != n {
		tb.Fatalf("kubo cat: %d of %d bytes: %v", got, n, err)
	}
	return time.Since(start)
}

// BenchmarkAdd1GiB imports 1 GiB generated on the fly (never held in
// memory) into a pebble-backed Store and reports MiB/s and the process's
// peak RSS during the add (VmHWM, reset first through clear_refs).
//
//	go test -run '^$' -bench Add1GiB -benchtime 1x ./content
func BenchmarkAdd1GiB(b *testing.B) {
	const size = 1 << 30
	n := newTestNode(b, testOpts{noRouter: true})
	ctx := context.Background()
	var total time.Duration
	var peak int64
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	defer close(stop)
	go func() { // sample the Go heap: the rest of the RSS is pebble's and the runtime's
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
		}
	}()
	b.ReportMetric(float64(currentRSS(b))/(1<<20), "start-RSS-MiB")
	for i := range b.N {
		resetPeakRSS()
		start := time.Now()
		_, err := n.store.Add(ctx, files.NewReaderFile(randReader(uint64(i), size)), AddOptions{Pin: true})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		peak = max(peak, peakRSS(b))
	}
	b.SetBytes(size)
	b.ReportMetric(mibPerSec(int64(b.N)*size, total), "add-MiB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
}

func mibPerSec(n int64, d time.Duration) float64 {
	return float64(n) / (1 << 20) / d.Seconds()
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of this process.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns VmHWM from /proc/self/status in bytes.
func peakRSS(tb testing.TB) int64 { return procStatus(tb, "VmHWM:") }

// currentRSS returns VmRSS from /proc/self/status in bytes.
func currentRSS(tb testing.TB) int64 { return procStatus(tb, "VmRSS:") }

func procStatus(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}
