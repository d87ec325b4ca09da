package metrics

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/golden"
	"github.com/finessectl/finessectl/internal/probe"
	rt "github.com/finessectl/finessectl/internal/resulttest"
	"github.com/finessectl/finessectl/internal/systeminfo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The facts of a healthy pair come from resulttest, shared with the renderers' tests.

// notAfter is rt.Certificate.NotAfter as the metric gives it.
var notAfter = float64(rt.Certificate.NotAfter.Unix())

var (
	passAll     = []check.Status{check.Pass, check.Pass, check.Pass}
	failFirst   = []check.Status{check.Fail, check.Skipped, check.Skipped}
	failSecond  = []check.Status{check.Pass, check.Fail, check.Skipped}
	connectOnly = []check.Status{check.Pass, check.Pass, check.Skipped}
	skipAll     = []check.Status{check.Skipped, check.Skipped, check.Skipped}
)

// checks are the three criteria with their statuses and durations; the
// phases of the first two are those given, as check.Run records them.
func checks(statuses []check.Status, https, xmpp []probe.Timing, durations ...int) []check.CheckResult {
	out := make([]check.CheckResult, len(finesse.Criteria))
	for i, c := range finesse.Criteria {
		out[i] = check.CheckResult{Criterion: c, Status: statuses[i]}
		if i < len(durations) {
			out[i].Duration = rt.Ms(durations[i])
		}
	}
	out[0].Phases, out[1].Phases = https, xmpp
	return out
}

func healthy(name string) check.ServerResult {
	return check.ServerResult{Target: rt.Target(name), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: rt.XMPPOK(),
		Checks: checks(passAll, rt.HTTPSPhases, rt.XMPPPhases, 21, 48, 15), Duration: rt.Ms(84)}
}

func notInService(name string) check.ServerResult {
	info := &systeminfo.Info{Status: "OUT_OF_SERVICE", StatusReason: "CTI link down", XMPPDomain: "finesse-a.example.com"}
	return check.ServerResult{Target: rt.Target(name), SystemInfo: rt.HTTPSOK(info), Duration: rt.Ms(22),
		Checks: checks(failFirst, rt.HTTPSPhases, nil, 21),
		Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.NotInService,
			Err: &systeminfo.NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE", Reason: "CTI link down"}}}
}

func authFailed(name string) check.ServerResult {
	phases := rt.Timings("connect", 2, "tls", 18, "stream", 4)
	x := rt.XMPPOK()
	x.JID, x.Timings = "", phases
	return check.ServerResult{Target: rt.Target(name), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: x, Duration: rt.Ms(60),
		Checks:  checks(failSecond, rt.HTTPSPhases, phases, 21, 35),
		Failure: &check.Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPAuthFailed, Err: errors.New("not-authorized")}}
}

// givenUp is a check ended at its deadline while SystemInfo was being
// fetched: judged by that criterion, with none of the probe's facts.
func givenUp(name string) check.ServerResult {
	return check.ServerResult{Target: rt.Target(name), Duration: rt.Ms(2000),
		Checks: checks(failFirst, nil, nil, 2000),
		Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnreachable,
			Err: errors.New("context deadline exceeded")}}
}

func run(require check.Require, servers ...check.ServerResult) check.Result {
	return check.Result{Servers: servers, Require: require, Started: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		CertWarn: 30 * 24 * time.Hour, CertCrit: 7 * 24 * time.Hour, Duration: rt.Ms(2000)}
}

// A sample is one parsed series: family name, labels, value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (s sample) key() string {
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", k, s.labels[k])
	}
	b.WriteString("}")
	return b.String()
}

// m builds an expected sample from label name/value pairs.
func m(name string, value float64, kv ...string) sample {
	l := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return sample{name, l, value}
}

// Expected samples, by what a server or run was.

func runSamples(verdict check.Verdict, exit int) []sample {
	out := []sample{m("finesse_run_exit_code", float64(exit))}
	for _, v := range []check.Verdict{check.VerdictAvailable, check.VerdictDegraded, check.VerdictUnavailable} {
		val := 0.0
		if v == verdict {
			val = 1
		}
		out = append(out, m("finesse_run_verdict", val, "verdict", string(v)))
	}
	return out
}

func phaseSamples(server, criterion string, ts []probe.Timing) []sample {
	var out []sample
	for _, t := range ts {
		out = append(out, m("finesse_probe_phase_duration_seconds", t.Duration.Seconds(), "server", server, "check", criterion, "phase", t.Phase))
	}
	return out
}

func healthySamples(server string) []sample {
	out := []sample{
		m("finesse_probe_success", 1, "server", server),
		m("finesse_probe_duration_seconds", 0.084, "server", server),
		m("finesse_probe_exit_code", 0, "server", server),
		m("finesse_probe_check_duration_seconds", 0.021, "server", server, "check", "systeminfo"),
		m("finesse_probe_check_duration_seconds", 0.048, "server", server, "check", "xmpp"),
		m("finesse_probe_check_duration_seconds", 0.015, "server", server, "check", "presence"),
		m("finesse_systeminfo_in_service", 1, "server", server),
		m("finesse_systeminfo_maintenance", 0, "server", server),
		m("finesse_cti_heartbeat_ok", 1, "server", server),
		m("finesse_tls_cert_not_after_timestamp_seconds", notAfter, "server", server, "port", "https"),
		m("finesse_tls_cert_not_after_timestamp_seconds", notAfter, "server", server, "port", "xmpp"),
	}
	out = append(out, phaseSamples(server, "systeminfo", rt.HTTPSPhases)...)
	return append(out, phaseSamples(server, "xmpp", rt.XMPPPhases)...)
}

func notInServiceSamples(server string) []sample {
	// No finesse_cti_heartbeat_ok: this SystemInfo does not report it.
	return append([]sample{
		m("finesse_probe_success", 0, "server", server),
		m("finesse_probe_duration_seconds", 0.022, "server", server),
		m("finesse_probe_exit_code", 12, "server", server),
		m("finesse_probe_failed_check_info", 1, "server", server, "check", "systeminfo", "scenario", "not-in-service"),
		m("finesse_probe_check_duration_seconds", 0.021, "server", server, "check", "systeminfo"),
		m("finesse_systeminfo_in_service", 0, "server", server),
		m("finesse_systeminfo_maintenance", 0, "server", server),
		m("finesse_tls_cert_not_after_timestamp_seconds", notAfter, "server", server, "port", "https"),
	}, phaseSamples(server, "systeminfo", rt.HTTPSPhases)...)
}

func authFailedSamples(server string) []sample {
	out := []sample{
		m("finesse_probe_success", 0, "server", server),
		m("finesse_probe_duration_seconds", 0.06, "server", server),
		m("finesse_probe_exit_code", 22, "server", server),
		m("finesse_probe_failed_check_info", 1, "server", server, "check", "xmpp", "scenario", "auth-failed"),
		m("finesse_probe_check_duration_seconds", 0.021, "server", server, "check", "systeminfo"),
		m("finesse_probe_check_duration_seconds", 0.035, "server", server, "check", "xmpp"),
		m("finesse_systeminfo_in_service", 1, "server", server),
		m("finesse_systeminfo_maintenance", 0, "server", server),
		m("finesse_cti_heartbeat_ok", 1, "server", server),
		m("finesse_tls_cert_not_after_timestamp_seconds", notAfter, "server", server, "port", "https"),
		m("finesse_tls_cert_not_after_timestamp_seconds", notAfter, "server", server, "port", "xmpp"),
	}
	out = append(out, phaseSamples(server, "systeminfo", rt.HTTPSPhases)...)
	return append(out, phaseSamples(server, "xmpp", rt.Timings("connect", 2, "tls", 18, "stream", 4))...)
}

func concat(parts ...[]sample) []sample { return slices.Concat(parts...) }

// parse reads an exposition as node_exporter and Prometheus do, and checks
// what every family must have: a HELP text, the gauge type, no timestamps.
func parse(t *testing.T, text []byte) map[string]sample {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	out := map[string]sample{}
	for name, mf := range families {
		if mf.GetHelp() == "" || mf.GetType().String() != "GAUGE" {
			t.Errorf("%s: help %q, type %v; want a help text and a gauge", name, mf.GetHelp(), mf.GetType())
		}
		for _, mt := range mf.GetMetric() {
			if mt.TimestampMs != nil {
				t.Errorf("%s has a timestamp; the textfile collector refuses them", name)
			}
			s := sample{name: name, labels: map[string]string{}, value: mt.GetGauge().GetValue()}
			for _, lp := range mt.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			if _, dup := out[s.key()]; dup {
				t.Errorf("%s twice", s.key())
			}
			out[s.key()] = s
		}
	}
	return out
}

func render(t *testing.T, r check.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// assertSamples compares every series exposed with the expected ones: none
// missing, none extra, every value equal.
func assertSamples(t *testing.T, got map[string]sample, want []sample) {
	t.Helper()
	wantByKey := map[string]sample{}
	for _, w := range want {
		if _, dup := wantByKey[w.key()]; dup {
			t.Fatalf("test expects %s twice", w.key())
		}
		wantByKey[w.key()] = w
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range wantByKey {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := wantByKey[k]
		switch {
		case !inWant:
			t.Errorf("unexpected %s = %v", k, g.value)
		case !inGot:
			t.Errorf("missing %s (want %v)", k, w.value)
		case g.value != w.value:
			t.Errorf("%s = %v, want %v", k, g.value, w.value)
		}
	}
}

func TestWriteText(t *testing.T) {
	maintenance := healthy("finesse-a.example.com")
	info := rt.PairInfo()
	info.FinesseMMode, info.LastCTIHeartbeatStatus = "IN_PROGRESS", "failure"
	maintenance.SystemInfo = rt.HTTPSOK(info)

	connect := healthy("finesse-a.example.com")
	connect.ConnectOnly = true
	connect.Checks = checks(connectOnly, rt.HTTPSPhases, rt.XMPPPhases, 21, 48)

	internal := check.ServerResult{Target: rt.Target("finesse-a.example.com"), Duration: rt.Ms(10500),
		Checks:  checks(skipAll, nil, nil),
		Failure: &check.Failure{Code: finesse.Internal, Err: errors.New("the check did not stop at its deadline")}}

	const a, b = "finesse-a.example.com", "finesse-b.example.com:8445"
	tests := []struct {
		name   string
		result check.Result
		want   []sample
	}{
		{"healthy", run(check.RequireAll, healthy(a)),
			concat(runSamples(check.VerdictAvailable, 0), healthySamples(a))},
		{"not-in-service", run(check.RequireAll, notInService(a)),
			concat(runSamples(check.VerdictUnavailable, 12), notInServiceSamples(a))},
		{"pair-degraded-require-any", run(check.RequireAny, healthy(a), authFailed(b)),
			concat(runSamples(check.VerdictDegraded, 0), healthySamples(a), authFailedSamples(b))},
		{"pair-degraded-require-all", run(check.RequireAll, healthy(a), authFailed(b)),
			concat(runSamples(check.VerdictDegraded, 22), healthySamples(a), authFailedSamples(b))},
		{"pair-down", run(check.RequireAny, notInService(a), authFailed(b)),
			concat(runSamples(check.VerdictUnavailable, 12), notInServiceSamples(a), authFailedSamples(b))},
		// Given up at the deadline in SystemInfo: no facts, so only the
		// verdict and the time the criterion took.
		{"given-up", run(check.RequireAll, givenUp(a)), concat(runSamples(check.VerdictUnavailable, 10), []sample{
			m("finesse_probe_success", 0, "server", a),
			m("finesse_probe_duration_seconds", 2, "server", a),
			m("finesse_probe_exit_code", 10, "server", a),
			m("finesse_probe_failed_check_info", 1, "server", a, "check", "systeminfo", "scenario", "tomcat-or-network-down"),
			m("finesse_probe_check_duration_seconds", 2, "server", a, "check", "systeminfo"),
		})},
		// No criterion is to blame for an internal error: check is empty.
		{"internal-error", run(check.RequireAll, internal), concat(runSamples(check.VerdictUnavailable, 70), []sample{
			m("finesse_probe_success", 0, "server", a),
			m("finesse_probe_duration_seconds", 10.5, "server", a),
			m("finesse_probe_exit_code", 70, "server", a),
			m("finesse_probe_failed_check_info", 1, "server", a, "check", "", "scenario", "internal-error"),
		})},
		// --connect-only passes without presence: success, and no presence
		// duration, as that criterion did not run.
		{"connect-only", run(check.RequireAll, connect), concat(runSamples(check.VerdictAvailable, 0),
			slices.DeleteFunc(healthySamples(a), func(s sample) bool { return s.labels["check"] == "presence" }))},
		{"maintenance-and-heartbeat-lost", run(check.RequireAll, maintenance), concat(runSamples(check.VerdictAvailable, 0),
			slices.DeleteFunc(healthySamples(a), func(s sample) bool {
				return s.name == "finesse_systeminfo_maintenance" || s.name == "finesse_cti_heartbeat_ok"
			}), []sample{
				m("finesse_systeminfo_maintenance", 1, "server", a),
				m("finesse_cti_heartbeat_ok", 0, "server", a),
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSamples(t, parse(t, render(t, tt.result)), tt.want)
		})
	}
}

// The exposition of a healthy server, byte for byte: names, HELP texts and
// the order of families and samples are an interface.
func TestGoldenHealthy(t *testing.T) {
	got := render(t, run(check.RequireAll, healthy("finesse-a.example.com")))
	golden.Check(t, "healthy.prom", got, *update)
}

// Server names are the user's: quotes, backslashes, line breaks and control
// characters reach the parser escaped and come back exactly, and cannot
// forge a series. Bytes that are not UTF-8, which a scraper refuses, come
// back as U+FFFD rather than failing the whole exposition.
func TestHostileServerNames(t *testing.T) {
	names := map[string]string{ // as given: as exported
		`quo"te`:                            `quo"te`,
		`back\slash\`:                       `back\slash\`,
		"line\nbreak":                       "line\nbreak",
		"carriage\rreturn\ttab":             "carriage\rreturn\ttab",
		"\x1b[2J\x1b[31mred\x07":            "\x1b[2J\x1b[31mred\x07",
		"nul\x00byte":                       "nul\x00byte",
		"\u202eexe.txt\u0085\u009b0m":       "\u202eexe.txt\u0085\u009b0m",
		"a\"} 1\nfinesse_forged{x=\"1\"} 1": "a\"} 1\nfinesse_forged{x=\"1\"} 1",
		"bad\xffutf8\xc3":                   "bad\uFFFDutf8\uFFFD",
	}
	var servers []check.ServerResult
	var want []sample
	for given, exported := range names {
		s := healthy("finesse-a.example.com")
		s.Target = check.Target{Name: given, Host: "finesse-a.example.com", HTTPSPort: 8445}
		servers = append(servers, s)
		want = append(want, healthySamples(exported)...)
	}
	got := parse(t, render(t, run(check.RequireAll, servers...)))
	assertSamples(t, got, concat(runSamples(check.VerdictAvailable, 0), want))
}

// The same server given twice, or two names that differ only in bytes that
// are not UTF-8, would export one series twice, which fails the whole
// exposition: the first result stands. A phase that ran twice in one
// criterion counts once, with both durations.
func TestDuplicateLabelSetsAreMerged(t *testing.T) {
	first := healthy("finesse-a.example.com")
	first.Checks[1].Phases = rt.Timings("connect", 2, "restart", 3, "restart", 4)
	second := notInService("finesse-a.example.com")
	sameAfterRepair := healthy("x")
	sameAfterRepair.Target.Name = "bad\xff"
	other := notInService("x")
	other.Target.Name = "bad\xfe"

	got := parse(t, render(t, run(check.RequireAll, first, second, sameAfterRepair, other)))
	a := "finesse-a.example.com"
	want := concat(runSamples(check.VerdictDegraded, 12),
		slices.DeleteFunc(healthySamples(a), func(s sample) bool { return s.labels["check"] == "xmpp" && s.labels["phase"] != "" }),
		phaseSamples(a, "xmpp", rt.Timings("connect", 2, "restart", 7)),
		healthySamples("bad\uFFFD"))
	assertSamples(t, got, want)
}
