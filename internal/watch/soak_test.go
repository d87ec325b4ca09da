package watch

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/simulator"
)

// resources is what a long-running watch must not accumulate.
type resources struct {
	goroutines int
	heap       uint64 // bytes in use after a collection
	fds        int
}

func measure(tb testing.TB) resources {
	tb.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return resources{goroutines: runtime.NumGoroutine(), heap: m.HeapInuse, fds: len(fds)}
}

// flap takes a watched node down (the Notification Service stops, every
// stream is dropped) and back, and waits for the watch to see both.
func flap(tb testing.TB, w *running, node *simulator.Node) {
	tb.Helper()
	if err := node.SetScenario(simulator.NotificationDown); err != nil {
		tb.Fatal(err)
	}
	w.await(tb, KindOutage)
	if err := node.SetScenario(simulator.Healthy); err != nil {
		tb.Fatal(err)
	}
	w.await(tb, KindRecovered)
	w.seen = w.seen[:0] // a soak keeps no history
}

// settled waits until the goroutines and descriptors left by the last
// reconnection are gone, and measures then.
func settled(tb testing.TB, base resources) resources {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	r := measure(tb)
	for (r.goroutines > base.goroutines || r.fds > base.fds) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r = measure(tb)
	}
	return r
}

// Fifty reconnections leave no goroutine and no descriptor behind.
func TestWatchReconnectsWithoutLeaking(t *testing.T) {
	w, node := startSoak(t)
	before := measure(t)
	for range 50 {
		flap(t, w, node)
	}
	after := settled(t, before)
	if after.goroutines > before.goroutines || after.fds > before.fds {
		t.Errorf("after 50 reconnections: %d goroutines and %d descriptors, from %d and %d",
			after.goroutines, after.fds, before.goroutines, before.fds)
	}
}

// startSoak watches a healthy node with the shortest pauses, past its
// first reconnection, which warms up pools a soak must not count.
func startSoak(tb testing.TB) (*running, *simulator.Node) {
	tb.Helper()
	tn, opts := startNodes(tb, 1, simulator.Healthy)
	node := tn.cl.Nodes[0]
	cfg := fast(Config{Target: target(tb, node), Options: opts})
	cfg.BackoffMin = 5 * time.Millisecond
	w := start(tb, cfg)
	w.await(tb, KindAvailable)
	flap(tb, w, node)
	return w, node
}

// BenchmarkWatchFlaps runs b.N outages and recoveries of the Notification
// Service (make bench runs 1,000) and reports what the process holds before
// and after: a watch runs for weeks, and must end them as it began.
func BenchmarkWatchFlaps(b *testing.B) {
	w, node := startSoak(b)
	before := measure(b)
	b.ResetTimer()
	for range b.N {
		flap(b, w, node)
	}
	b.StopTimer()
	after := settled(b, before)
	b.ReportMetric(float64(before.goroutines), "goroutines-start")
	b.ReportMetric(float64(after.goroutines), "goroutines-end")
	b.ReportMetric(float64(before.heap)/(1<<20), "heap-MiB-start")
	b.ReportMetric(float64(after.heap)/(1<<20), "heap-MiB-end")
	b.ReportMetric(float64(before.fds), "fds-start")
	b.ReportMetric(float64(after.fds), "fds-end")
}
