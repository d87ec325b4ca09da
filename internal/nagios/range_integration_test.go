//go:build integration

package nagios

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// debianPython is the interpreter Debian's python3-nagiosplugin installs
// for; a python3 earlier in PATH (pyenv, a venv) may not see the package.
const debianPython = "/usr/bin/python3"

// peerScript reads {"text": ..., "values": [...]} and prints, as JSON,
// whether nagiosplugin's Range accepts the text and, for each value,
// whether it alerts. Range.match is True when a value does NOT breach the
// range, also with '@' (nagiosplugin 1.3, range.py: "True if value is inside
// the bounds for non-inverted Ranges", inverted with '@'), so an alert is
// "not match".
const peerScript = `
import json, sys
import nagiosplugin
case = json.load(sys.stdin)
try:
    r = nagiosplugin.Range(case["text"])
except ValueError as e:
    print(json.dumps({"ok": False, "error": str(e)}))
    sys.exit(0)
print(json.dumps({"ok": True, "alerts": [not r.match(v) for v in case["values"]]}))
`

// probeValues are tried on every range, besides the range's own values:
// both sides of and exactly on each bound the table uses.
var probeValues = []float64{-1e12, -11, -10, -5.5, -5, -1, -0.001, 0, 0.000001, 0.0001, 0.4, 0.5, 0.6, 1, 1.5, 2.25,
	3, 4.9, 5, 6, 6.1, 9.999, 10, 10.001, 15, 20, 20.5, 30.5, 1e12}

type peerAnswer struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Alerts []bool `json:"alerts"`
}

func askNagiosplugin(t *testing.T, text string, values []float64) peerAnswer {
	t.Helper()
	in, err := json.Marshal(map[string]any{"text": text, "values": values})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, "-c", peerScript)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s\nThis test needs Debian's python3-nagiosplugin: apt-get install -y python3-nagiosplugin", debianPython, err, stderr)
	}
	var a peerAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("nagiosplugin answered %q: %v", out, err)
	}
	return a
}

// TestRangesAgreeWithNagiosplugin holds ParseRange and Alert to an
// independent implementation of the same guidelines: for every text of the
// range table, python3-nagiosplugin must accept what we accept and alert on
// the same values, refuse what we refuse, and accept the few texts the
// table marks as refused here only. A missing library fails the test.
func TestRangesAgreeWithNagiosplugin(t *testing.T) {
	for _, tt := range rangeCases {
		t.Run(tt.text, func(t *testing.T) {
			values := slices.Clone(probeValues)
			for x := range tt.alerts {
				values = append(values, x)
			}
			slices.Sort(values)
			values = slices.Compact(values)
			peer := askNagiosplugin(t, tt.text, values)
			r, err := ParseRange(tt.text)
			switch {
			case err != nil && tt.peerTakes:
				if !peer.OK {
					t.Fatalf("the table says nagiosplugin reads %q, but it refuses it: %s", tt.text, peer.Error)
				}
				return
			case err != nil:
				if peer.OK {
					t.Fatalf("we refuse %q (%v), nagiosplugin reads it", tt.text, err)
				}
				return
			case !peer.OK:
				t.Fatalf("we read %q, nagiosplugin refuses it: %s", tt.text, peer.Error)
			}
			if len(peer.Alerts) != len(values) {
				t.Fatalf("nagiosplugin answered %d values of %d", len(peer.Alerts), len(values))
			}
			for i, x := range values {
				if got := r.Alert(x); got != peer.Alerts[i] {
					t.Errorf("%q at %v: we alert %v, nagiosplugin %v", tt.text, x, got, peer.Alerts[i])
				}
			}
		})
	}
}
