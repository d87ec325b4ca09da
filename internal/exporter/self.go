package exporter

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/promtext"
)

// counter is a counter family with one label, safe for concurrent use.
type counter struct {
	name, help, label string

	mu     sync.Mutex
	counts map[string]float64
}

// newCounter makes a counter whose given values are exported at 0 before
// they are first counted.
func newCounter(name, help, label string, values ...string) *counter {
	c := &counter{name: name, help: help, label: label, counts: map[string]float64{}}
	for _, v := range values {
		c.counts[v] = 0
	}
	return c
}

func (c *counter) inc(value string) {
	c.mu.Lock()
	c.counts[value]++
	c.mu.Unlock()
}

func (c *counter) family() promtext.Family {
	f := promtext.Family{Name: c.name, Help: c.help, Type: promtext.Counter}
	c.mu.Lock()
	defer c.mu.Unlock()
	for v, n := range c.counts {
		f.Add(n, []string{c.label}, v)
	}
	return f
}

// started stands in for the process's start time: package initialisation
// runs within milliseconds of it, and reading it from /proc would need the
// boot time and the clock tick as well.
var started = time.Now()

// processFamilies is what an operator watches of the exporter itself, under
// the names Prometheus' own client library gives them, so that existing
// dashboards and alerts find them: goroutines, heap, CPU, memory and file
// descriptors. The process_* metrics read from /proc are left out where
// there is no /proc.
func processFamilies() []promtext.Family {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fams := []promtext.Family{
		single("go_goroutines", "Number of goroutines that currently exist.", promtext.Gauge, float64(runtime.NumGoroutine())),
		single("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", promtext.Gauge, float64(ms.HeapAlloc)),
		single("go_memstats_sys_bytes", "Number of bytes obtained from the system.", promtext.Gauge, float64(ms.Sys)),
		single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", promtext.Gauge,
			float64(started.UnixNano())/1e9),
	}
	info := promtext.Family{Name: "go_info", Help: "Information about the Go environment.", Type: promtext.Gauge}
	info.Add(1, []string{"version"}, runtime.Version())
	fams = append(fams, info)

	if st, ok := readStat(); ok {
		fams = append(fams,
			single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", promtext.Counter, st.cpuSeconds),
			single("process_virtual_memory_bytes", "Virtual memory size in bytes.", promtext.Gauge, st.virtualBytes),
			single("process_resident_memory_bytes", "Resident memory size in bytes.", promtext.Gauge, st.residentBytes))
	}
	// The directory's own descriptor is among those it lists.
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		fams = append(fams, single("process_open_fds", "Number of open file descriptors.", promtext.Gauge, float64(len(fds)-1)))
	}
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		if n, ok := parseMaxFiles(string(b)); ok {
			fams = append(fams, single("process_max_fds", "Maximum number of open file descriptors.", promtext.Gauge, n))
		}
	}
	return fams
}

// single is a family of one sample without labels.
func single(name, help string, typ promtext.Type, v float64) promtext.Family {
	return promtext.Family{Name: name, Help: help, Type: typ, Samples: []promtext.Sample{{Value: v}}}
}

// parseMaxFiles reads the soft limit of open files from /proc/self/limits,
// a table whose row is "Max open files  SOFT  HARD  files"; "unlimited" is
// not a number a file descriptor alert can use, so it is left out.
func parseMaxFiles(limits string) (float64, bool) {
	for _, line := range strings.Split(limits, "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseFloat(f[0], 64)
		return n, err == nil
	}
	return 0, false
}

type procStat struct {
	cpuSeconds, virtualBytes, residentBytes float64
}

// userHZ is the unit of /proc's CPU times: 100 for user space on every
// architecture Go runs Linux on, whatever the kernel's own tick.
const userHZ = 100

// readStat reads /proc/self/stat; ok is false where there is no such file
// or it reads otherwise.
func readStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseStat(string(b), os.Getpagesize())
}

// parseStat reads a stat line (proc(5)): utime and stime (fields 14 and
// 15), vsize (23) and rss in pages (24). Field 2, the command name, is in
// parentheses and may hold spaces and parentheses, so fields are counted
// after the last closing parenthesis.
func parseStat(s string, pageSize int) (procStat, bool) {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return procStat{}, false
	}
	rest := strings.Fields(s[end+1:]) // rest[0] is field 3
	var v [4]float64
	for i, n := range []int{14, 15, 23, 24} {
		if n-3 >= len(rest) {
			return procStat{}, false
		}
		var err error
		if v[i], err = strconv.ParseFloat(rest[n-3], 64); err != nil {
			return procStat{}, false
		}
	}
	return procStat{
		cpuSeconds:    (v[0] + v[1]) / userHZ,
		virtualBytes:  v[2],
		residentBytes: v[3] * float64(pageSize),
	}, true
}
