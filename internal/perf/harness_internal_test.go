//go:build linux

package perf

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The pieces of the benchmarks that could break without failing them: the
// build, the child's resource usage, the command line of a healthy check,
// and the inittrace format. Nothing here is timed.
func TestHarness(t *testing.T) {
	bin := finessectl(t)
	ctx := context.Background()

	t.Run("version", func(t *testing.T) {
		s, err := execute(ctx, childEnv(t.TempDir()), bin, "--version")
		if err != nil {
			t.Fatal(err)
		}
		want := "finessectl perf" // stamped by the build
		if *binFlag != "" {
			want = "finessectl "
		}
		if s.code != 0 || !strings.HasPrefix(s.output, want) {
			t.Fatalf("exit %d, want 0 and %q:\n%s", s.code, want, s.output)
		}
		if s.maxRSSKiB <= 0 || s.wall <= 0 {
			t.Fatalf("maxrss %d KiB, wall %v: wait4's resource usage was not read", s.maxRSSKiB, s.wall)
		}
	})

	t.Run("exit code is read", func(t *testing.T) {
		s, err := execute(ctx, childEnv(t.TempDir()), bin, "check")
		if err != nil {
			t.Fatal(err)
		}
		if s.code != 64 {
			t.Fatalf("check without a server: exit %d, want 64:\n%s", s.code, s.output)
		}
	})

	t.Run("healthy check", func(t *testing.T) {
		sm := startSim(t, 1, 0)
		s, err := execute(ctx, childEnv(sm.dir), bin, sm.checkArgs()...)
		if err != nil {
			t.Fatal(err)
		}
		if s.code != 0 || !strings.Contains(s.output, "fully available") {
			t.Fatalf("exit %d, want 0:\n%s", s.code, s.output)
		}
		if s.maxRSSKiB <= 0 {
			t.Fatalf("maxrss %d KiB", s.maxRSSKiB)
		}
	})

	t.Run("inittrace", func(t *testing.T) {
		s, err := execute(ctx, childEnv(t.TempDir(), "GODEBUG=inittrace=1"), bin, "--version")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := parseInitTrace(s.output)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.pkgs) < 20 || tr.total().clock <= 0 || tr.total().allocs <= 0 {
			t.Fatalf("%d packages, total %+v: the inittrace format changed?\n%s", len(tr.pkgs), tr.total(), truncate(s.output, 2000))
		}
	})
}

// A child's peak RSS is its own, however large the benchmark process (and
// the simulator in it) has grown: run directly, a child of this process
// would report this process's peak (see spawn/main.go).
func TestChildPeakRSSIsItsOwn(t *testing.T) {
	bin := finessectl(t)
	const big = 128 << 20
	ballast := make([]byte, big)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1 // resident, not only reserved
	}
	s, err := execute(context.Background(), childEnv(t.TempDir()), bin, "--version")
	runtime.KeepAlive(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if s.maxRSSKiB <= 0 || s.maxRSSKiB >= big>>10 {
		t.Fatalf("--version: peak RSS %d KiB with a %d KiB parent: not the child's own", s.maxRSSKiB, big>>10)
	}
}

func TestParseInitTrace(t *testing.T) {
	tr, err := parseInitTrace("finessectl perf\n" +
		"init runtime @0.043 ms, 0.093 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/prometheus/procfs @3.3 ms, 0.21 ms clock, 94296 bytes, 882 allocs\n")
	if err != nil {
		t.Fatal(err)
	}
	want := initCost{303 * time.Microsecond, 94296, 882}
	if got := tr.total(); len(tr.pkgs) != 2 || tr.pkgs[1] != "github.com/prometheus/procfs" || got != want {
		t.Fatalf("got %v %+v, want 2 packages, %+v", tr.pkgs, got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3, 1, 2}, 2},
		{[]time.Duration{40, 10, 30, 20}, 25},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// What every command pays before main. The Prometheus client library and
// protobuf, whose initialisation was half of it, are not linked (promtext
// writes the exposition), and finessectl's own packages compile no regular
// expression and parse no template at start-up: one of either allocates
// several KiB, all of the packages together about 3.5 KiB. Bytes, not time,
// so nothing here is timed.
func TestStartupInitialisesLittle(t *testing.T) {
	if *binFlag != "" {
		t.Skip("-perf.bin: this holds this tree's binary, not the one given")
	}
	bin := finessectl(t)
	s, err := execute(context.Background(), childEnv(t.TempDir(), "GODEBUG=inittrace=1"), bin, "--version")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := parseInitTrace(s.output)
	if err != nil {
		t.Fatal(err)
	}
	var own initCost
	for i, p := range tr.pkgs {
		switch {
		case strings.HasPrefix(p, "github.com/prometheus/"), strings.HasPrefix(p, "google.golang.org/protobuf/"):
			t.Errorf("%s is initialised at start-up (%d bytes)", p, tr.costs[i].bytes)
		case strings.HasPrefix(p, "github.com/finessectl/"):
			own.add(tr.costs[i])
		}
	}
	if own.bytes > 8<<10 {
		t.Errorf("finessectl's packages allocate %d bytes in %d allocations at start-up, want under 8 KiB:\n%s",
			own.bytes, own.allocs, s.output)
	}
}
