package nagios

import (
	"errors"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{OK: "OK", Warning: "WARNING", Critical: "CRITICAL", Unknown: "UNKNOWN", State(9): "UNKNOWN"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
	if OK != 0 || Warning != 1 || Critical != 2 || Unknown != 3 {
		t.Fatal("states must be the plugin exit codes 0-3")
	}
}

func TestWorst(t *testing.T) {
	// max_state_alt's order: CRITICAL > WARNING > UNKNOWN > OK.
	order := []State{OK, Unknown, Warning, Critical}
	for i, a := range order {
		for j, b := range order {
			want := order[max(i, j)]
			if got := Worst(a, b); got != want {
				t.Errorf("Worst(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func passed(warnings ...check.Severity) check.ServerResult {
	s := check.ServerResult{}
	for _, sev := range warnings {
		s.Warnings = append(s.Warnings, check.Warning{Code: check.WarnHTTPSCertExpiring, Severity: sev})
	}
	return s
}

func failed(code finesse.Code) check.ServerResult {
	return check.ServerResult{Failure: &check.Failure{Code: code, Err: errors.New("failed")}}
}

func TestServerState(t *testing.T) {
	tests := []struct {
		name string
		s    check.ServerResult
		want State
	}{
		{"passed", passed(), OK},
		{"connect-only", check.ServerResult{ConnectOnly: true}, OK},
		{"maintenance warning", passed(check.SeverityWarning), Warning},
		{"two warnings", passed(check.SeverityWarning, check.SeverityWarning), Warning},
		{"certificate within --cert-crit", passed(check.SeverityWarning, check.SeverityCritical), Critical},
		{"internal error", failed(finesse.Internal), Unknown},
	}
	// Every scenario code is CRITICAL: timeouts, refusals and DNS failures
	// are the service's problem, not the plugin's (the guidelines).
	for _, sc := range finesse.Scenarios {
		if sc.Criterion != "" {
			tests = append(tests, struct {
				name string
				s    check.ServerResult
				want State
			}{sc.Meaning, failed(sc.Code), Critical})
		}
	}
	if len(tests) != 6+9 {
		t.Fatalf("%d cases: finesse.Scenarios should hold the nine failure codes 10-31", len(tests))
	}
	for _, tt := range tests {
		if got := ServerState(tt.s); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRunState(t *testing.T) {
	var (
		ok, warn, crit = passed(), passed(check.SeverityWarning), passed(check.SeverityCritical)
		down, timeout  = failed(finesse.NotInService), failed(finesse.SystemInfoUnreachable)
		internal       = failed(finesse.Internal)
	)
	tests := []struct {
		name    string
		require check.Require
		servers []check.ServerResult
		want    State
	}{
		{"all: one passed", check.RequireAll, []check.ServerResult{ok}, OK},
		{"all: pair passed", check.RequireAll, []check.ServerResult{ok, ok}, OK},
		{"all: a warning", check.RequireAll, []check.ServerResult{ok, warn}, Warning},
		{"all: a critical warning", check.RequireAll, []check.ServerResult{warn, crit}, Critical},
		{"all: one down", check.RequireAll, []check.ServerResult{ok, down}, Critical},
		{"all: a timeout", check.RequireAll, []check.ServerResult{timeout}, Critical},
		{"all: internal error", check.RequireAll, []check.ServerResult{internal}, Unknown},
		{"all: internal error and passed", check.RequireAll, []check.ServerResult{ok, internal}, Unknown},
		{"all: internal error and a warning", check.RequireAll, []check.ServerResult{internal, warn}, Warning},
		{"all: internal error and down", check.RequireAll, []check.ServerResult{internal, down}, Critical},
		{"any: pair passed", check.RequireAny, []check.ServerResult{ok, ok}, OK},
		{"any: pair passed with a warning", check.RequireAny, []check.ServerResult{ok, warn}, Warning},
		{"any: pair passed with a critical warning", check.RequireAny, []check.ServerResult{crit, ok}, Critical},
		{"any: degraded", check.RequireAny, []check.ServerResult{ok, down}, Warning},
		{"any: degraded by a timeout", check.RequireAny, []check.ServerResult{timeout, ok}, Warning},
		{"any: degraded by an internal error", check.RequireAny, []check.ServerResult{ok, internal}, Warning},
		{"any: degraded, survivor warns", check.RequireAny, []check.ServerResult{warn, down}, Warning},
		{"any: degraded, survivor's certificate critical", check.RequireAny, []check.ServerResult{down, crit}, Critical},
		{"any: none passed", check.RequireAny, []check.ServerResult{down, timeout}, Critical},
		{"any: none passed, one internal", check.RequireAny, []check.ServerResult{internal, down}, Critical},
		{"any: every failure internal", check.RequireAny, []check.ServerResult{internal, internal}, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RunState(check.Result{Require: tt.require, Servers: tt.servers}); got != tt.want {
				t.Errorf("RunState = %v, want %v", got, tt.want)
			}
		})
	}
}

func mustRange(t *testing.T, text string) *Range {
	t.Helper()
	r, err := ParseRange(text)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestEvaluate(t *testing.T) {
	ok := []check.ServerResult{passed()}
	tests := []struct {
		name       string
		servers    []check.ServerResult
		duration   time.Duration
		warn, crit string // "" = flag not given
		want       State
	}{
		{"no thresholds", ok, time.Hour, "", "", OK},
		{"under -w", ok, 4 * time.Second, "5", "10", OK},
		{"at -w, inclusive", ok, 5 * time.Second, "5", "10", OK},
		{"over -w", ok, 5100 * time.Millisecond, "5", "10", Warning},
		{"over -c", ok, 11 * time.Second, "5", "10", Critical},
		{"-c alone", ok, 11 * time.Second, "", "10", Critical},
		{"-w alone", ok, 11 * time.Second, "10", "", Warning},
		{"tiny -w", ok, time.Millisecond, "0.000001", "", Warning},
		{"inside @ range", ok, 2 * time.Second, "@1:3", "", Warning},
		{"below a lower bound", ok, 50 * time.Millisecond, "0.1:", "", Warning},
		{"duration cannot lower a state", []check.ServerResult{failed(finesse.NotInService)}, time.Second, "5", "10", Critical},
		{"-w raises UNKNOWN to WARNING", []check.ServerResult{failed(finesse.Internal)}, 6 * time.Second, "5", "10", Warning},
		{"-c raises UNKNOWN to CRITICAL", []check.ServerResult{failed(finesse.Internal)}, 11 * time.Second, "5", "10", Critical},
		{"-w does not lower CRITICAL", []check.ServerResult{passed(check.SeverityCritical)}, 6 * time.Second, "5", "10", Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warn, crit *Range
			if tt.warn != "" {
				warn = mustRange(t, tt.warn)
			}
			if tt.crit != "" {
				crit = mustRange(t, tt.crit)
			}
			r := check.Result{Require: check.RequireAll, Servers: tt.servers, Duration: tt.duration}
			if got := Evaluate(r, warn, crit); got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

// Clusters joined into one report are each judged under their own rule.
func TestRunStateOfJoinedClusters(t *testing.T) {
	ok, down := passed(), failed(finesse.NotInService)
	run := func(req check.Require, servers ...check.ServerResult) check.Result {
		return check.Result{Require: req, Servers: servers}
	}
	tests := []struct {
		name string
		runs []check.Result
		want State
	}{
		{"any degraded, all up", []check.Result{run(check.RequireAny, ok, down), run(check.RequireAll, ok, ok)}, Warning},
		{"any up, all degraded", []check.Result{run(check.RequireAny, ok, ok), run(check.RequireAll, ok, down)}, Critical},
		{"both up", []check.Result{run(check.RequireAny, ok, ok), run(check.RequireAll, ok, ok)}, OK},
	}
	for _, tt := range tests {
		if got := RunState(check.Join([]string{"a", "b"}, tt.runs)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
