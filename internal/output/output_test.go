package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/systeminfo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func pairInfo() *systeminfo.Info {
	return &systeminfo.Info{
		Status: "IN_SERVICE", DeploymentType: "UCCE", XMPPDomain: "finesse-a.example.com",
		XMPPPubSubDomain: "pubsub.finesse-a.example.com", LastCTIHeartbeatStatus: "success",
		PrimaryNode:   &systeminfo.Node{Host: "finesse-a.example.com"},
		SecondaryNode: &systeminfo.Node{Host: "finesse-b.example.com"},
	}
}

func target(name string) check.Target {
	t, err := check.ParseTarget(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Results built by hand: durations and messages fixed, so goldens are stable.
var results = map[string]check.Result{
	"healthy": {Servers: []check.ServerResult{{
		Target: target("finesse-a.example.com"), SystemInfo: pairInfo(), Duration: ms(84),
		Checks: []check.CheckResult{
			{Criterion: check.CriterionSystemInfo, Status: check.Pass, Duration: ms(21), Message: "status IN_SERVICE, UCCE, XMPP domain finesse-a.example.com"},
			{Criterion: check.CriterionXMPP, Status: check.Pass, Duration: ms(48), Message: "logged in to finesse-a.example.com:5223 (direct TLS) as healthprobe@finesse-a.example.com/finessectl-0a1b2c3d",
				Phases: []check.PhaseTiming{{Name: "connect", Duration: ms(2)}, {Name: "tls", Duration: ms(18)}, {Name: "stream", Duration: ms(4)}, {Name: "auth", Duration: ms(15)}, {Name: "bind", Duration: ms(9)}}},
			{Criterion: check.CriterionPresence, Status: check.Pass, Duration: ms(15), Message: "finesse@finesse-a.example.com is AVAILABLE"},
		},
	}}},
	"pair-webapp-down": {Servers: []check.ServerResult{
		{
			Target: target("finesse-a.example.com"), SystemInfo: pairInfo(), Duration: ms(3070),
			Checks: []check.CheckResult{
				{Criterion: check.CriterionSystemInfo, Status: check.Pass, Duration: ms(20), Message: "status IN_SERVICE, UCCE, XMPP domain finesse-a.example.com"},
				{Criterion: check.CriterionXMPP, Status: check.Pass, Duration: ms(50), Message: "logged in to finesse-a.example.com:5223 (direct TLS) as healthprobe@finesse-a.example.com/finessectl-0a1b2c3d"},
				{Criterion: check.CriterionPresence, Status: check.Fail, Duration: ms(3000), Message: "finesse@finesse-a.example.com is UNAVAILABLE"},
			},
			Failure: &check.Failure{Criterion: check.CriterionPresence, Code: check.FinesseUnavailable, Err: errors.New("finesse@finesse-a.example.com is UNAVAILABLE")},
		},
		{
			Target: target("finesse-b.example.com:8445"), Duration: ms(1),
			Checks: []check.CheckResult{
				{Criterion: check.CriterionSystemInfo, Status: check.Fail, Duration: ms(1), Message: "GET https://finesse-b.example.com:8445/finesse/api/SystemInfo: dial tcp 192.0.2.7:8445: connect: connection refused"},
				{Criterion: check.CriterionXMPP, Status: check.Skipped, Message: "not checked: the guide's criteria are checked in order, and systeminfo failed"},
				{Criterion: check.CriterionPresence, Status: check.Skipped, Message: "not checked: the guide's criteria are checked in order, and systeminfo failed"},
			},
			Failure: &check.Failure{Criterion: check.CriterionSystemInfo, Code: check.SystemInfoUnreachable, Err: errors.New("refused")},
		},
	}},
	"connect-only": {Servers: []check.ServerResult{{
		Target: target("https://finesse-a.example.com:8445"), SystemInfo: pairInfo(), ConnectOnly: true, Duration: ms(40),
		Checks: []check.CheckResult{
			{Criterion: check.CriterionSystemInfo, Status: check.Pass, Duration: ms(20), Message: "status IN_SERVICE, UCCE, XMPP domain finesse-a.example.com"},
			{Criterion: check.CriterionXMPP, Status: check.Pass, Duration: ms(20), Message: "stream negotiated with finesse-a.example.com:5223 (direct TLS); not logged in (--connect-only)"},
			{Criterion: check.CriterionPresence, Status: check.Skipped, Message: "not checked: --connect-only does not log in, so presence is unknown"},
		},
	}}},
	"internal-error": {Servers: []check.ServerResult{{
		Target: target("finesse-a.example.com"), Duration: ms(10500),
		Checks: []check.CheckResult{
			{Criterion: check.CriterionSystemInfo, Status: check.Skipped},
			{Criterion: check.CriterionXMPP, Status: check.Skipped},
			{Criterion: check.CriterionPresence, Status: check.Skipped},
		},
		Failure: &check.Failure{Code: check.Internal, Err: errors.New("the check did not stop at its 10s deadline; this is a bug in finessectl")},
	}}},
	"hostile-text": {Servers: []check.ServerResult{{
		Target: target("finesse-a.example.com"), Duration: ms(5),
		Checks: []check.CheckResult{
			{Criterion: check.CriterionSystemInfo, Status: check.Fail, Duration: ms(5), Message: "status is \x1b[2J\x1b[31mOUT_OF_SERVICE\u009b0m"},
			{Criterion: check.CriterionXMPP, Status: check.Skipped},
			{Criterion: check.CriterionPresence, Status: check.Skipped},
		},
		Failure: &check.Failure{Criterion: check.CriterionSystemInfo, Code: check.NotInService, Err: errors.New("x")},
	}}},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./internal/output -update' to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenText(t *testing.T) {
	for name, r := range results {
		for _, colour := range []bool{false, true} {
			file := name + ".txt"
			if colour {
				file = name + ".color.txt"
			}
			t.Run(file, func(t *testing.T) {
				var b bytes.Buffer
				if err := Text(&b, r, TextOptions{Color: colour, Phases: true}); err != nil {
					t.Fatal(err)
				}
				if !colour && strings.Contains(b.String(), "\x1b") {
					t.Fatalf("colourless report contains an escape sequence:\n%q", b.String())
				}
				golden(t, file, b.Bytes())
			})
		}
	}
}

func TestGoldenJSON(t *testing.T) {
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, r); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", b.Bytes())
		})
	}
}

// The JSON contract: these keys exist for every server, failing or not.
func TestJSONKeysAlwaysPresent(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, results["pair-webapp-down"]); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion *int                         `json:"format_version"`
		ExitCode      *int                         `json:"exit_code"`
		Servers       []map[string]json.RawMessage `json:"servers"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion == nil || *doc.FormatVersion != JSONFormatVersion || doc.ExitCode == nil || *doc.ExitCode != 30 {
		t.Fatalf("top level wrong: %s", b.String())
	}
	for _, s := range doc.Servers {
		for _, k := range []string{"server", "available", "exit_code", "failed_criterion", "error", "meaning", "scenario",
			"recovery", "alternate_host", "connect_only", "duration_seconds", "checks", "systeminfo"} {
			if _, ok := s[k]; !ok {
				t.Errorf("server object lacks %q", k)
			}
		}
		var checks []map[string]json.RawMessage
		if err := json.Unmarshal(s["checks"], &checks); err != nil || len(checks) != 3 {
			t.Fatalf("checks: %v (%s)", err, s["checks"])
		}
		for _, c := range checks {
			for _, k := range []string{"name", "status", "duration_seconds", "message", "phases"} {
				if _, ok := c[k]; !ok {
					t.Errorf("check object lacks %q", k)
				}
			}
		}
	}
}

func TestDuration(t *testing.T) {
	tests := map[time.Duration]string{0: "0ms", ms(1): "1ms", 1500 * time.Microsecond: "2ms", ms(999): "999ms", ms(1000): "1.00s", ms(3070): "3.07s"}
	for d, want := range tests {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
