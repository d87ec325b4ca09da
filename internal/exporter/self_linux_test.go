package exporter

import (
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics is read by the client library's parser, and every metric of the
// exporter itself is there with its type and a value that fits this
// process.
func TestOwnMetrics(t *testing.T) {
	srv, _ := newTestServer(t, time.Hour, passed)
	scrape(t, srv.URL+"/probe?target=a.example")
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	// As Prometheus asks; given explicitly, the client leaves the body as sent.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q, want none: the README says answers are not compressed", ce)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the client library's parser refuses /metrics: %v", err)
	}
	value := func(name string, typ dto.MetricType, labels ...string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Errorf("%s missing", name)
			return math.NaN()
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), typ)
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i, l := range m.GetLabel() {
				if i >= len(labels) || l.GetValue() != labels[i] {
					continue metrics
				}
			}
			if typ == dto.MetricType_COUNTER {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
		t.Errorf("%s%v missing", name, labels)
		return math.NaN()
	}

	if v := value("finessectl_probes_total", dto.MetricType_COUNTER, resultSuccess); v != 1 {
		t.Errorf("success %v, want 1", v)
	}
	if v := value("finessectl_probes_total", dto.MetricType_COUNTER, resultAuthSuppressed); v != 0 {
		t.Errorf("auth-suppressed %v, want 0 before any", v)
	}
	if v := value("go_goroutines", dto.MetricType_GAUGE); !(v >= 1) {
		t.Errorf("go_goroutines %v", v)
	}
	if v := value("go_info", dto.MetricType_GAUGE, runtime.Version()); v != 1 {
		t.Errorf("go_info{version=%q} %v", runtime.Version(), v)
	}
	if v := value("go_memstats_heap_alloc_bytes", dto.MetricType_GAUGE); !(v > 0) {
		t.Errorf("heap %v", v)
	}
	if heap, sys := value("go_memstats_heap_alloc_bytes", dto.MetricType_GAUGE), value("go_memstats_sys_bytes", dto.MetricType_GAUGE); !(sys > heap) {
		t.Errorf("memory from the system %v, want above the heap in use %v", sys, heap)
	}
	for _, gone := range []string{"go_gc_duration_seconds", "go_threads"} {
		if fams[gone] != nil {
			t.Errorf("%s is exported; the README says the client library's other series are not", gone)
		}
	}
	now := float64(time.Now().UnixNano()) / 1e9
	if v := value("process_start_time_seconds", dto.MetricType_GAUGE); !(v > now-3600 && v <= now) {
		t.Errorf("start time %v, want within the last hour", v)
	}
	if v := value("process_resident_memory_bytes", dto.MetricType_GAUGE); !(v > 1<<20 && v < 4<<30) {
		t.Errorf("resident memory %v, want between 1 MiB and 4 GiB", v)
	}
	if v, vsz := value("process_resident_memory_bytes", dto.MetricType_GAUGE), value("process_virtual_memory_bytes", dto.MetricType_GAUGE); !(vsz > v) {
		t.Errorf("virtual memory %v, want above resident %v", vsz, v)
	}
	if v := value("process_cpu_seconds_total", dto.MetricType_COUNTER); !(v >= 0 && v < 3600) {
		t.Errorf("CPU %v s", v)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// The test's own client connection and server's may come and go; the
	// count is of this process either way.
	if v := value("process_open_fds", dto.MetricType_GAUGE); !(v >= 3 && v < float64(len(fds)+10)) {
		t.Errorf("open fds %v, this process has about %d", v, len(fds)-1)
	}
	if v, want := value("process_max_fds", dto.MetricType_GAUGE), maxFiles(t); v != want {
		t.Errorf("max fds %v, want the soft RLIMIT_NOFILE %v", v, want)
	}
}

// maxFiles is the soft limit of open files as the kernel gives it to this
// process, to hold what /proc/self/limits said.
func maxFiles(t *testing.T) float64 {
	t.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	return float64(l.Cur)
}
