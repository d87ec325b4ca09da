package output

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nagios"
)

// nagiosGolden is one rendering of a hand-built result in plugin mode.
type nagiosGolden struct {
	file       string
	result     check.Result
	warn, crit string // -w and -c; "" when not given
}

// nagiosGoldens renders every case without thresholds, and with -w 5 -c 10
// the cases where a threshold on the run's duration shows: stays OK, raises
// OK to WARNING and to CRITICAL, raises UNKNOWN, leaves a degraded pair.
func nagiosGoldens() []nagiosGolden {
	var gs []nagiosGolden
	for name, r := range results {
		gs = append(gs, nagiosGolden{file: name + ".nagios.txt", result: r})
	}
	for _, name := range []string{"healthy", "slow-server", "slow-pair-in-waves", "internal-error", "pair-degraded-require-any"} {
		gs = append(gs, nagiosGolden{file: name + ".w5-c10.nagios.txt", result: results[name], warn: "5", crit: "10"})
	}
	return gs
}

func renderNagios(t *testing.T, g nagiosGolden) (nagios.State, string) {
	t.Helper()
	var warn, crit *nagios.Range
	for _, th := range []struct {
		text string
		dst  **nagios.Range
	}{{g.warn, &warn}, {g.crit, &crit}} {
		if th.text == "" {
			continue
		}
		r, err := nagios.ParseRange(th.text)
		if err != nil {
			t.Fatal(err)
		}
		*th.dst = &r
	}
	var b bytes.Buffer
	state, err := Nagios(&b, g.result, warn, crit)
	if err != nil {
		t.Fatal(err)
	}
	if want := nagios.Evaluate(g.result, warn, crit); state != want {
		t.Fatalf("Nagios returned %v, Evaluate says %v", state, want)
	}
	return state, b.String()
}

func TestGoldenNagios(t *testing.T) {
	for _, g := range nagiosGoldens() {
		t.Run(g.file, func(t *testing.T) {
			state, out := renderNagios(t, g)
			golden(t, g.file, []byte(out))
			first, _, _ := strings.Cut(out, "\n")
			text, perf, ok := strings.Cut(first, "|")
			if !ok || strings.Contains(perf, "|") {
				t.Fatalf("first line needs exactly one '|' before the perfdata: %q", first)
			}
			if n := utf8.RuneCountInString(text); n >= 80 {
				t.Errorf("text before the perfdata is %d characters, want under 80: %q", n, text)
			}
			if want := "FINESSE " + state.String() + " - "; !strings.HasPrefix(text, want) {
				t.Errorf("first line %q does not start with %q", first, want)
			}
			if rest := out[len(first)+1:]; strings.Contains(rest, "|") {
				t.Errorf("long text holds a '|', which Nagios would read as perfdata:\n%s", rest)
			}
		})
	}
}

// Each golden's state, stated here so that a change of judgement cannot
// hide in a bulk -update of the golden files.
func TestNagiosGoldenStates(t *testing.T) {
	want := map[string]nagios.State{
		"healthy.nagios.txt":                               nagios.OK,
		"connect-only.nagios.txt":                          nagios.OK,
		"slow-server.nagios.txt":                           nagios.OK,
		"slow-pair-in-waves.nagios.txt":                    nagios.OK,
		"websocket-auto-on-7443-bosh-failing.nagios.txt":   nagios.OK,
		"maintenance-and-heartbeat-warnings.nagios.txt":    nagios.Warning,
		"pair-degraded-require-any.nagios.txt":             nagios.Warning,
		"certificate-expiring-and-peer-added.nagios.txt":   nagios.Critical,
		"presence-unavailable-and-peer-refused.nagios.txt": nagios.Critical,
		"dns-failure-with-available-peer.nagios.txt":       nagios.Critical,
		"hostile-server-text.nagios.txt":                   nagios.Critical,
		"auth-failed-with-hints.nagios.txt":                nagios.Critical,
		"presence-missing-not-in-roster.nagios.txt":        nagios.Critical,
		"https-certificate-untrusted.nagios.txt":           nagios.Critical,
		"systeminfo-not-finesse.nagios.txt":                nagios.Critical,
		"notification-service-down.nagios.txt":             nagios.Critical,
		"xmpp-certificate-expired.nagios.txt":              nagios.Critical,
		"internal-error.nagios.txt":                        nagios.Unknown,
		"healthy.w5-c10.nagios.txt":                        nagios.OK,
		"slow-server.w5-c10.nagios.txt":                    nagios.Warning,
		"slow-pair-in-waves.w5-c10.nagios.txt":             nagios.Critical,
		"internal-error.w5-c10.nagios.txt":                 nagios.Critical,
		"pair-degraded-require-any.w5-c10.nagios.txt":      nagios.Warning,
	}
	gs := nagiosGoldens()
	if len(gs) != len(want) {
		t.Errorf("%d goldens, %d expected states: give every new case its state here", len(gs), len(want))
	}
	for _, g := range gs {
		state, _ := renderNagios(t, g)
		if w, ok := want[g.file]; !ok || state != w {
			t.Errorf("%s: %v, want %v", g.file, state, w)
		}
	}
}

// Every exit code a check can end with appears in some golden, so each has
// its rendering pinned.
func TestNagiosGoldensCoverEveryCode(t *testing.T) {
	seen := map[finesse.Code]bool{}
	for _, r := range results {
		for _, s := range r.Servers {
			seen[s.ExitCode()] = true
		}
	}
	for _, sc := range finesse.Scenarios {
		if sc.Code != finesse.Usage && !seen[sc.Code] {
			t.Errorf("no case in results ends with exit %d (%s)", sc.Code, sc.Meaning)
		}
	}
}

// The perfdata grammar of the Monitoring Plugins guidelines:
//
//	'label'=value[UOM];[warn];[crit];[min];[max]
//
// "label can contain any characters except the equals sign or single quote";
// "the single quotes for the label are optional"; "to specify a quote
// character, use two single quotes"; value is "[-0-9.]" or "U"; UOM is
// s, us, ms, %, B, KB, MB, TB or c; warn and crit are "in the range
// format"; min and max are "[-0-9.]"; "trailing unfilled semicolons can be
// dropped". Items are space separated.
var (
	perfNumber = `-?[0-9]+(?:\.[0-9]+)?`
	perfRange  = `@?(?:(?:~|` + perfNumber + `)?:)?(?:` + perfNumber + `)?`
	perfItem   = regexp.MustCompile(`^(?:'(?:[^'=]|'')+'|[^'= ]+)=(?:` + perfNumber + `|U)(?:s|us|ms|%|B|KB|MB|TB|c)?` +
		`(?:;(?:` + perfRange + `)(?:;(?:` + perfRange + `)(?:;(?:` + perfNumber + `)?(?:;(?:` + perfNumber + `)?)?)?)?)?$`)
)

func TestNagiosPerfdataGrammar(t *testing.T) {
	for _, g := range nagiosGoldens() {
		_, out := renderNagios(t, g)
		first, _, _ := strings.Cut(out, "\n")
		_, perf, _ := strings.Cut(first, "|")
		items := perfItems(perf)
		if len(items) == 0 {
			t.Errorf("%s: no perfdata", g.file)
		}
		for _, item := range items {
			if !perfItem.MatchString(item) {
				t.Errorf("%s: perfdata item %q breaks the guidelines' grammar", g.file, item)
			}
		}
		if last := items[len(items)-1]; !strings.HasPrefix(last, "'duration'=") {
			t.Errorf("%s: last item %q, want the run's duration", g.file, last)
		}
	}
}

// perfItems splits perfdata at the spaces between items, not at those in a
// quoted label.
func perfItems(perf string) []string {
	var items []string
	var cur strings.Builder
	quoted := false
	for _, r := range perf {
		switch {
		case r == '\'':
			quoted = !quoted // '' inside a label toggles twice
		case r == ' ' && !quoted:
			items = append(items, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(items, cur.String())
}

func TestNagiosPerfdataItems(t *testing.T) {
	_, out := renderNagios(t, nagiosGolden{result: results["certificate-expiring-and-peer-added"], warn: "5", crit: "~:10"})
	first, _, _ := strings.Cut(out, "\n")
	for _, want := range []string{
		"'finesse-a.example.com_systeminfo'=0.021s;;;0;",
		"'finesse-a.example.com_presence'=0.015s;;;0;",
		"'finesse-a.example.com_available'=1;;;0;1",
		"'finesse-a.example.com_https_cert_days'=3;30:;7:;;",
		"'finesse-a.example.com_xmpp_cert_days'=3;30:;7:;;",
		"'finesse-b.example.com:8445_https_cert_days'=410;30:;7:;;",
		"'duration'=0.084s;5;~:10;0;",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("perfdata lacks %q:\n%s", want, first)
		}
	}
	_, out = renderNagios(t, nagiosGolden{result: results["dns-failure-with-available-peer"]})
	if !strings.Contains(out, "'finesse-c.example.com_available'=0;;;0;1 ") || strings.Contains(out, "finesse-c.example.com_xmpp'") {
		t.Errorf("a server that failed systeminfo: available 0, no xmpp timing:\n%s", out)
	}
}

// A label is given once: the same server twice, or two names perfLabel
// makes one, would repeat it, and graphing add-ons keep one value per label.
// The first server's values stand, as the exit code reads it first.
func TestNagiosPerfdataLabelsOnce(t *testing.T) {
	r := results["certificate-expiring-and-peer-added"]
	first := r.Servers[0]
	again := first
	again.Checks = slices.Clone(first.Checks)
	again.Checks[0].Duration = 99 * time.Second
	spaced := first
	spaced.Target.Name = strings.Replace(first.Target.Name, ".", " ", 1)
	underscored := spaced
	underscored.Target.Name = strings.Replace(first.Target.Name, ".", "_", 1)
	r.Servers = append(slices.Clone(r.Servers), again, spaced, underscored)
	_, out := renderNagios(t, nagiosGolden{result: r})
	line, _, _ := strings.Cut(out, "\n")
	_, perf, _ := strings.Cut(line, "|")
	seen := map[string]bool{}
	for _, item := range perfItems(perf) {
		label, _, _ := strings.Cut(item, "=")
		if seen[label] {
			t.Errorf("label %s given twice:\n%s", label, perf)
		}
		seen[label] = true
	}
	if strings.Contains(perf, "=99s") {
		t.Errorf("a repeated server's values replaced the first's:\n%s", perf)
	}
	if !seen["'finesse-a_example.com_systeminfo'"] {
		t.Errorf("the first of two names perfLabel makes one is missing:\n%s", perf)
	}
}

func TestPerfLabel(t *testing.T) {
	for in, want := range map[string]string{
		"finesse-a.example.com_xmpp": "'finesse-a.example.com_xmpp'",
		"o'brien_xmpp":               "'o''brien_xmpp'",
		"a=b c|d\te":                 "'a_b_c_d_e'",
		"''":                         "''''''",
	} {
		if got := perfLabel(in); got != want {
			t.Errorf("perfLabel(%q) = %q, want %q", in, got, want)
		}
		if !perfItem.MatchString(perfLabel(in) + "=1") {
			t.Errorf("perfLabel(%q) = %q does not fit the grammar", in, perfLabel(in))
		}
	}
}

// A hostile server name, as --peers takes it from SystemInfo, can neither
// end the summary, start perfdata, nor add a line.
func TestNagiosHostileServerName(t *testing.T) {
	s := results["presence-unavailable-and-peer-refused"].Servers[1]
	s.Target.Name = "evil|'x'=1 \n FINESSE OK - all fine" + strings.Repeat("-long", 40)
	s.PeerOf = "a|b\nc"
	r := check.Result{Require: check.RequireAll, Servers: []check.ServerResult{s}}
	_, out := renderNagios(t, nagiosGolden{result: r})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want the first and one server line:\n%s", len(lines), out)
	}
	text, perf, _ := strings.Cut(lines[0], "|")
	if utf8.RuneCountInString(text) >= 80 || strings.Contains(perf, "|") || strings.Contains(lines[1], "|") {
		t.Errorf("server text escaped its place:\n%s", out)
	}
	for _, item := range perfItems(perf) {
		if !perfItem.MatchString(item) {
			t.Errorf("perfdata item %q breaks the grammar", item)
		}
	}
	if !strings.HasPrefix(text, "FINESSE CRITICAL - evil\\x7c'x'=1 FINESSE OK") || !strings.HasSuffix(text, "…: exit 10 systeminfo unreachable") {
		t.Errorf("summary %q: want the name escaped and shortened, the reason whole", text)
	}
}

func TestNagiosSummaryFitsLongNames(t *testing.T) {
	long := strings.Repeat("finesse-node-with-a-very-long-name.", 4) + "example.com"
	for _, g := range nagiosGoldens() {
		r := g.result
		servers := make([]check.ServerResult, len(r.Servers))
		for i, s := range r.Servers {
			s.Target.Name = long
			servers[i] = s
		}
		r.Servers = servers
		_, out := renderNagios(t, nagiosGolden{result: r, warn: g.warn, crit: g.crit})
		text, _, _ := strings.Cut(out, "|")
		if utf8.RuneCountInString(text) >= 80 {
			t.Errorf("%s with long names: %d characters: %q", g.file, utf8.RuneCountInString(text), text)
		}
	}
}

func TestShortMeaningForEveryFailureCode(t *testing.T) {
	for _, sc := range finesse.Scenarios {
		if sc.Code == finesse.OK || sc.Code == finesse.Usage {
			continue
		}
		if shortMeanings[sc.Code] == "" {
			t.Errorf("exit %d has no short meaning for the plugin's first line", sc.Code)
		}
	}
}

func TestNagiosError(t *testing.T) {
	var b bytes.Buffer
	if err := NagiosError(&b, errors.New("no probe credentials.\nGive them | now")); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "FINESSE UNKNOWN - no probe credentials. Give them \\x7c now\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Every golden file in testdata/golden that looks like plugin output belongs
// to a case, so none is left behind when a case is renamed.
func TestNoOrphanNagiosGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "*.nagios.txt"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, g := range nagiosGoldens() {
		known[g.file] = true
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("%s belongs to no case; remove it", f)
		}
	}
	if _, err := os.Stat(filepath.Join("..", "..", "testdata", "golden")); err != nil {
		t.Fatal(err)
	}
}
