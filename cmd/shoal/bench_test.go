package main

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/testnet"
	"github.com/shoalnet/shoal/node/api"
)

// BenchmarkDaemonStart measures process start → API answering (the daemon
// prints "Daemon is ready" after its API listens; the first request is
// included).
func BenchmarkDaemonStart(b *testing.B) {
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		d := testnet.Start(b, testnet.Options{})
		if _, err := d.Client.ID(context.Background()); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		d.Stop()
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(samples, 50)), "ms-p50")
}

// BenchmarkDiscovery3Nodes measures, on a fresh 3-node network, the time from
// the last daemon being ready until `nodes` on it lists all 3 nodes from the
// DHT.
func BenchmarkDiscovery3Nodes(b *testing.B) {
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		first := testnet.Start(b, testnet.Options{})
		second := testnet.Start(b, testnet.Options{Bootstrap: []string{first.TCPAddr()}})
		b.StartTimer()
		start := time.Now()
		third := testnet.Start(b, testnet.Options{Bootstrap: []string{first.TCPAddr()}})
		res, err := third.Client.Nodes(context.Background(), "", nil, api.WaitOptions{Min: 3, Timeout: 60 * time.Second})
		if err != nil || len(res.Nodes) != 3 {
			b.Fatalf("nodes: %v (%d)", err, len(res.Nodes))
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		for _, d := range []*testnet.Daemon{third, second, first} {
			d.Stop()
		}
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(samples, 50)), "ms-p50")
}

// BenchmarkIdleRSS reports the resident memory of a daemon with 2 peers after
// SHOAL_BENCH_IDLE (default 60s) of idling. Goal: ≤ 60 MB.
func BenchmarkIdleRSS(b *testing.B) {
	idle := 60 * time.Second
	if v := os.Getenv("SHOAL_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	for i := 0; i < b.N; i++ {
		ds := testnet.Network(b, 3, testnet.Options{})
		time.Sleep(idle) // the measured quantity is memory after idling, not a synchronisation
		rss := rssOf(b, ds[0].PID())
		b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
		b.ReportMetric(float64(rss)/(1<<20)/60, "ratio-to-60MB-goal")
	}
}

func rssOf(b testing.TB, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func percentile(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[(len(c)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
