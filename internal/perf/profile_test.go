//go:build perfprofile && linux

package perf

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/cli"
)

var (
	profileDir   = flag.String("profile.dir", "", "where TestProfileCheck writes its profiles (default: a new temporary directory, kept)")
	profileRuns  = flag.Int("profile.runs", 300, "checks in TestProfileCheck's CPU profile")
	initRuns     = flag.Int("profile.initruns", 30, "processes whose GODEBUG=inittrace=1 TestProfileCheck averages")
	simulatorOut = regexp.MustCompile(`HTTPS (\S+)`)
)

// TestProfileCheck finds what a healthy local check costs beyond the check
// itself:
//
//   - the package initialisation every process pays before main
//     (GODEBUG=inittrace=1 over -profile.initruns runs of '--version'), by
//     package and by module;
//   - the first check in a fresh process against later ones (allocations,
//     exactly: MemProfileRate 1), i.e. what is set up once per process, with
//     an allocation profile of the first check alone;
//   - a CPU profile of -profile.runs checks.
//
// The checks run in this process through cli.Main, exactly as the binary
// runs them; the simulator runs in a child process ('finessectl simulate'),
// so that every sample and allocation is finessectl's. Run it with
//
//	go test -tags perfprofile -run '^TestProfileCheck$' -count=1 -v ./internal/perf
func TestProfileCheck(t *testing.T) {
	runtime.MemProfileRate = 1
	bin := finessectl(t)
	dir := *profileDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "finessectl-profile-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	pprofTop := func(args ...string) {
		out, err := exec.Command(goCmd, append([]string{"tool", "pprof", "-top"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof %v: %v\n%s", args, err, out)
		}
		fmt.Printf("%s\n", out)
	}

	reportInitTrace(t, bin)

	home := t.TempDir()
	caFile := filepath.Join(home, "ca.pem")
	server := startSimulatorProcess(t, bin, home, caFile)
	env := map[string]string{"FINESSE_USER": probeUser, "FINESSE_PASSWORD": probePassword,
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config")}
	args := []string{"check", "--ca-file", caFile, server}
	check := func() {
		var out bytes.Buffer
		ios := &cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out, Getenv: func(k string) string { return env[k] }}
		if code := cli.Main(context.Background(), args, ios, "perf"); code != 0 {
			t.Fatalf("check: exit %d:\n%s", code, out.String())
		}
	}
	writeAllocs := func(name string) string {
		runtime.GC() // the allocs profile is as of the last GC
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The first check, then three more: what the first allocates beyond the
	// later ones is set up once per process, on every cron run.
	before := writeAllocs("allocs-before.pprof")
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	check()
	first := time.Since(start)
	runtime.ReadMemStats(&m1)
	firstAllocs, firstBytes := m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
	firstProfile := writeAllocs("allocs-first-check.pprof")
	runtime.ReadMemStats(&m1) // after the profile's own allocations
	start = time.Now()
	const later = 3
	for range later {
		check()
	}
	next := time.Since(start) / later
	runtime.ReadMemStats(&m2)
	fmt.Printf("\n== first check in this process against the next %d (allocations exact)\n", later)
	fmt.Printf("first: %v, %d allocs, %d KiB\n", first, firstAllocs, firstBytes>>10)
	fmt.Printf("next:  %v, %d allocs, %d KiB (mean)\n\n", next, (m2.Mallocs-m1.Mallocs)/later, (m2.TotalAlloc-m1.TotalAlloc)/later>>10)
	fmt.Printf("== allocations of the first check, by space (cumulative)\n")
	// Without the writing of the first profile, which falls between the two.
	pprofTop("-sample_index=alloc_space", "-cum", "-nodecount=45", "-ignore=^runtime/pprof[.]", "-base", before, firstProfile)
	pprofTop("-sample_index=alloc_objects", "-nodecount=25", "-ignore=^runtime/pprof[.]", "-base", before, firstProfile)

	// CPU over many checks: the steady cost of a check in this process.
	runtime.MemProfileRate = 512 << 10 // the default: do not slow the CPU profile
	cpuPath := filepath.Join(dir, "cpu.pprof")
	f, err := os.Create(cpuPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for range *profileRuns {
		check()
	}
	took := time.Since(start)
	pprof.StopCPUProfile()
	f.Close()
	fmt.Printf("== CPU of %d checks in this process (%v each)\n", *profileRuns, took/time.Duration(*profileRuns))
	pprofTop("-nodecount=30", cpuPath)
	pprofTop("-cum", "-nodecount=40", cpuPath)
	fmt.Printf("profiles in %s (go tool pprof -http=: FILE)\n", dir)
}

// reportInitTrace prints the mean package initialisation of a process of
// bin, by module and by package.
func reportInitTrace(t *testing.T, bin string) {
	t.Helper()
	env := childEnv(t.TempDir(), "GODEBUG=inittrace=1")
	sums := map[string]*initCost{}
	var total initCost
	for range *initRuns {
		s, err := execute(context.Background(), env, bin, "--version")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := parseInitTrace(s.output)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range tr.pkgs {
			if sums[p] == nil {
				sums[p] = &initCost{}
			}
			sums[p].add(tr.costs[i])
			total.add(tr.costs[i])
		}
	}
	n := int64(*initRuns)
	mean := func(c initCost) string {
		return fmt.Sprintf("%6.3f ms %8d B %6d allocs", ms(c.clock)/float64(n), c.bytes/n, c.allocs/n)
	}
	modules := map[string]*initCost{}
	for p, c := range sums {
		m := module(p)
		if modules[m] == nil {
			modules[m] = &initCost{}
		}
		modules[m].add(*c)
	}
	top := func(title string, costs map[string]*initCost, k int) {
		names := make([]string, 0, len(costs))
		for name := range costs {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool { return costs[names[i]].clock > costs[names[j]].clock })
		fmt.Printf("%s\n", title)
		for _, name := range names[:min(k, len(names))] {
			fmt.Printf("  %-60s %s\n", name, mean(*costs[name]))
		}
		fmt.Println()
	}
	fmt.Printf("\n== package initialisation, mean of %d processes of '--version': %s in %d packages\n\n", n, mean(total), len(sums))
	top("by module (standard library by top directory):", modules, 20)
	top("by package:", sums, 25)
}

// module names the module of an import path, roughly: the standard library
// by its top directory, github.com and the like by three elements.
func module(pkg string) string {
	parts := strings.Split(pkg, "/")
	if !strings.Contains(parts[0], ".") {
		return "std " + parts[0]
	}
	switch {
	case len(parts) >= 3:
		return strings.Join(parts[:3], "/")
	}
	return pkg
}

// startSimulatorProcess runs 'finessectl simulate' with free ports until the
// test ends, and returns the HTTPS address of its node.
func startSimulatorProcess(t *testing.T, bin, home, caFile string) string {
	t.Helper()
	cmd := exec.Command(bin, "simulate", "--https-port", "0", "--xmpp-port", "0", "--xmpp-secure-port", "0",
		"--bosh-port", "0", "--user", probeUser, "--write-ca", caFile)
	cmd.Env = childEnv(home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var server string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := simulatorOut.FindStringSubmatch(sc.Text()); m != nil && server == "" {
			server = m[1]
		}
		if strings.HasPrefix(sc.Text(), "Check it with") {
			break
		}
	}
	if server == "" {
		t.Fatalf("finessectl simulate printed no HTTPS address (%v)", sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return server
}
