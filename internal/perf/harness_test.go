//go:build linux

package perf

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/simulator"
)

// The probe account every simulator of this package accepts. The password
// reaches the child through FINESSE_PASSWORD, never argv.
const (
	probeUser     = "1080001"
	probePassword = "perf-only-password"
)

// binFlag measures a finessectl built elsewhere, such as the previous
// release, against this tree's simulator:
//
//	go test -run '^$' -bench . -benchmem ./internal/perf -args -perf.bin=/tmp/old/finessectl
var binFlag = flag.String("perf.bin", "", "measure this finessectl binary instead of building one from this tree")

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	binPath   string
	spawnPath string // see spawn/main.go
	buildErr  error

	simMu sync.Mutex
	sims  = map[simKey]*sim{} // closed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	simMu.Lock()
	for _, s := range sims {
		s.cl.Close()
		_ = os.RemoveAll(s.dir)
	}
	simMu.Unlock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// finessectl builds the binary once per test process, as 'make build' does
// (static, trimmed paths, stripped), with spawn beside it, and returns its
// path; with -perf.bin it builds spawn alone and returns that binary.
func finessectl(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "finessectl-perf-")
		if buildErr != nil {
			return
		}
		// go test puts its own GOROOT/bin first on PATH.
		goCmd, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		pkgs := []string{"github.com/finessectl/finessectl/internal/perf/spawn"}
		binPath = filepath.Join(buildDir, "finessectl")
		if *binFlag == "" {
			pkgs = append(pkgs, "github.com/finessectl/finessectl/cmd/finessectl")
		} else if binPath, err = filepath.Abs(*binFlag); err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command(goCmd, append([]string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=perf",
			"-o", buildDir + string(filepath.Separator)}, pkgs...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		spawnPath = filepath.Join(buildDir, "spawn")
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// sample is one run of a child process.
type sample struct {
	wall      time.Duration // from fork to reaped, as spawn sees it
	cpu       time.Duration // the child's user + system time
	maxRSSKiB int64         // the child's peak resident set (Linux: KiB)
	code      int
	output    string // stdout and stderr
}

// execute runs name with args and env until it exits, through spawn, and
// returns what spawn read from wait4 (see spawn/main.go for why not
// directly). A non-zero exit is not an error: it is in code. finessectl
// must have been called first, to build spawn.
func execute(ctx context.Context, env []string, name string, args ...string) (sample, error) {
	if spawnPath == "" {
		return sample{}, errors.New("execute before finessectl built spawn")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, spawnPath, append([]string{name}, args...)...)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{w} // fd 3
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	w.Close()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", name, err)
	}
	report, readErr := io.ReadAll(r)
	err = cmd.Wait()
	s := sample{output: out.String()}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	var wall, user, sys int64
	if n, _ := fmt.Sscanf(string(report), "%d %d %d %d %d\n", &wall, &user, &sys, &s.maxRSSKiB, &s.code); n != 5 || readErr != nil {
		return s, fmt.Errorf("%s: no report from spawn (%q, %v), exit %d:\n%s", name, report, readErr, cmd.ProcessState.ExitCode(), truncate(s.output, 2000))
	}
	s.wall, s.cpu = time.Duration(wall), time.Duration(user+sys)
	return s, nil
}

// selfCPU is this process's user + system time so far: the in-process
// simulator's work, and the harness's own.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childEnv is a clean environment: the probe credentials, and a home and
// config directory of their own, so that no config.yaml, .curlrc or the
// like of whoever runs the benchmark changes what is measured.
func childEnv(home string, extra ...string) []string {
	return append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"LANG=C.UTF-8",
		"FINESSE_USER=" + probeUser,
		"FINESSE_PASSWORD=" + probePassword,
	}, extra...)
}

type simKey struct {
	nodes   int
	latency time.Duration
}

// sim is a running simulator with its CA written to a file.
type sim struct {
	cl      *simulator.Cluster
	dir     string // holds ca.pem; also the children's HOME
	caFile  string
	servers []string // each node's HTTPS address, host:port
}

// startSim returns a healthy simulator of nodes nodes with latency added to
// every round trip, started once per test process and shared by every
// benchmark and test that asks for the same. It skips when the simulator
// cannot run that many nodes yet.
func startSim(tb testing.TB, nodes int, latency time.Duration) *sim {
	tb.Helper()
	simMu.Lock()
	defer simMu.Unlock()
	key := simKey{nodes, latency}
	if s, ok := sims[key]; ok {
		return s
	}
	cl, err := simulator.Start(simulator.Config{Nodes: nodes, Latency: latency,
		Users: map[string]string{probeUser: probePassword},
		// Free ports: Finesse's own may be taken by another simulator.
		HTTPSPort: 0, XMPPPort: 0, XMPPSecurePort: 0, BOSHPort: 0})
	if err != nil {
		tb.Fatalf("simulator with %d nodes: %v", nodes, err)
	}
	dir, err := os.MkdirTemp("", "finessectl-perf-sim-")
	if err != nil {
		cl.Close()
		tb.Fatal(err)
	}
	s := &sim{cl: cl, dir: dir, caFile: filepath.Join(dir, "ca.pem")}
	if err := cl.CA.WriteCertFile(s.caFile); err != nil {
		cl.Close()
		tb.Fatal(err)
	}
	for _, n := range cl.Nodes {
		s.servers = append(s.servers, n.HTTPSAddr())
	}
	sims[key] = s
	return s
}

// checkArgs is 'finessectl check' of every node, with the defaults a cron
// line gets (transport auto: WebSocket on the HTTPS port, as Finesse 12.6
// desktops connect), extra flags first.
func (s *sim) checkArgs(extra ...string) []string {
	args := append([]string{"check", "--ca-file", s.caFile}, extra...)
	return append(args, s.servers...)
}

// run is a measured loop of one command line: every iteration must exit
// with want.
type run struct {
	bin  string
	args []string
	env  []string
	want int
}

// totals are what measure saw over b.N runs.
type totals struct {
	wall, cpu, simCPU time.Duration
	peakKiB           int64
}

// measure runs r b.N times and reports, per run, the child's wall time from
// fork to reaped as ns/op (in place of the loop's, which also counts
// starting spawn), its CPU and the benchmark process's (the in-process
// simulator's) CPU, and the child's peak RSS over all runs.
func measure(b *testing.B, r run) totals {
	ctx := context.Background()
	var t totals
	self := selfCPU()
	for b.Loop() {
		s, err := execute(ctx, r.env, r.bin, r.args...)
		if err != nil {
			b.Fatal(err)
		}
		if s.code != r.want {
			b.Fatalf("%s %s: exit %d, want %d:\n%s", filepath.Base(r.bin), strings.Join(r.args, " "), s.code, r.want, truncate(s.output, 4000))
		}
		t.wall += s.wall
		t.cpu += s.cpu
		t.peakKiB = max(t.peakKiB, s.maxRSSKiB)
	}
	t.simCPU = selfCPU() - self
	n := float64(b.N)
	b.ReportMetric(float64(t.wall.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(t.peakKiB), "maxrss-KiB")
	b.ReportMetric(ms(t.cpu)/n, "cpu-ms/op")
	b.ReportMetric(ms(t.simCPU)/n, "sim-cpu-ms/op")
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[…]"
}

// median of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}
