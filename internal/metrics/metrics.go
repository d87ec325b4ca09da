// Package metrics turns a check.Result into Prometheus metrics: for
// node_exporter's textfile collector (WriteTextfile) and for an exporter that
// checks servers when it is scraped (Families, written by promtext).
//
// A Result is a finished run, so every metric is a gauge computed from it;
// nothing accumulates between runs. promtext escapes label values: a server
// name is the user's, and may hold quotes, backslashes or line breaks.
package metrics

import (
	"slices"
	"strings"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/promtext"
)

// Label names. Every per-server metric carries server, the name as given.
const (
	labelServer   = "server"
	labelCheck    = "check"
	labelPhase    = "phase"
	labelScenario = "scenario"
	labelPort     = "port"
	labelVerdict  = "verdict"
)

// Values of the port label of the certificate metric.
const (
	portHTTPS = "https"
	portXMPP  = "xmpp"
)

var (
	probeSuccess = newDesc("finesse_probe_success",
		"1 if the server passed every criterion checked (SystemInfo IN_SERVICE, XMPP login, "+
			"presence of the 'finesse' user; with --connect-only, SystemInfo and the XMPP stream), 0 otherwise.",
		labelServer)
	probeDuration = newDesc("finesse_probe_duration_seconds",
		"Wall time of the server's check, all criteria included.",
		labelServer)
	checkDuration = newDesc("finesse_probe_check_duration_seconds",
		"Time spent on one criterion (systeminfo, xmpp, presence) of the server's check; "+
			"only criteria that ran.",
		labelServer, labelCheck)
	phaseDuration = newDesc("finesse_probe_phase_duration_seconds",
		"Time spent in one phase (dns, connect, tls, request, auth, bind, ...) of a criterion, "+
			"to tell network time from server time; only phases that completed.",
		labelServer, labelCheck, labelPhase)
	probeExitCode = newDesc("finesse_probe_exit_code",
		"finessectl's exit code for the server: 0 when it passed, 10-31 the failure scenario, 70 internal error.",
		labelServer)
	failedCheckInfo = newDesc("finesse_probe_failed_check_info",
		"Always 1, present only for a server that failed: the criterion that failed "+
			"(empty for an internal error) and a stable name of the scenario its exit code stands for.",
		labelServer, labelCheck, labelScenario)
	inService = newDesc("finesse_systeminfo_in_service",
		"1 if SystemInfo's status is IN_SERVICE, 0 for any other status; present only when SystemInfo was read.",
		labelServer)
	maintenance = newDesc("finesse_systeminfo_maintenance",
		"1 if SystemInfo's finesseMMode is IN_PROGRESS (the node drains for maintenance and desktops move "+
			"to the other node), 0 otherwise; present only when SystemInfo was read.",
		labelServer)
	ctiHeartbeatOK = newDesc("finesse_cti_heartbeat_ok",
		"1 if SystemInfo's lastCTIHeartbeatStatus is success, 0 if it is anything else; "+
			"present only when SystemInfo reports it.",
		labelServer)
	certNotAfter = newDesc("finesse_tls_cert_not_after_timestamp_seconds",
		"When the certificate the port (https or xmpp) presented expires, in seconds since the Unix epoch; "+
			"present only when a certificate was seen, also one that failed verification.",
		labelServer, labelPort)
	runVerdict = newDesc("finesse_run_verdict",
		"1 for the verdict on all servers of the run taken together (available: all passed, "+
			"degraded: some passed, unavailable: none passed), 0 for the other verdicts.",
		labelVerdict)
	runExitCode = newDesc("finesse_run_exit_code",
		"finessectl's exit code for the whole run under its --require rule.",
	)
)

// desc is a family before its samples: name, help and label names.
type desc struct {
	name, help string
	labels     []string
}

func newDesc(name, help string, labels ...string) desc { return desc{name, help, labels} }

// verdicts are every value of the verdict label, all exported so that a
// query for one of them never finds nothing.
var verdicts = []check.Verdict{check.VerdictAvailable, check.VerdictDegraded, check.VerdictUnavailable}

// Families is r's metrics. It reads r and changes nothing, so one result can
// answer any number of scrapes.
func Families(r check.Result) []promtext.Family {
	fs := families{}
	verdict := r.Verdict()
	for _, v := range verdicts {
		fs.gauge(runVerdict, boolValue(v == verdict), string(v))
	}
	fs.gauge(runExitCode, float64(r.ExitCode()))

	// The same server given twice is checked twice, but one set of label
	// values can be exported only once: the first result stands, as it is
	// the one the run's exit code reads first.
	seen := map[string]bool{}
	for _, s := range r.Servers {
		name := serverLabel(s.Target.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		fs.server(name, s)
	}
	out := make([]promtext.Family, 0, len(fs))
	for _, f := range fs {
		out = append(out, *f)
	}
	return out
}

// FailedScenarios is the scenario label of each finesse_probe_failed_check_info
// sample of r, read back from its families so that a count of failures
// always agrees with the metric.
func FailedScenarios(r check.Result) []string {
	var out []string
	for _, f := range Families(r) {
		if f.Name != failedCheckInfo.name {
			continue
		}
		i := slices.Index(failedCheckInfo.labels, labelScenario)
		for _, s := range f.Samples {
			out = append(out, s.Labels[i].Value)
		}
	}
	return out
}

// families collects samples by metric name.
type families map[string]*promtext.Family

func (fs families) gauge(d desc, v float64, values ...string) {
	f := fs[d.name]
	if f == nil {
		f = &promtext.Family{Name: d.name, Help: d.help, Type: promtext.Gauge}
		fs[d.name] = f
	}
	f.Add(v, d.labels, values...)
}

func (fs families) server(name string, s check.ServerResult) {
	// Passed, not Available: a --connect-only run passes a server that
	// answered both ports, and that is all it asked.
	fs.gauge(probeSuccess, boolValue(s.Passed()), name)
	fs.gauge(probeDuration, s.Duration.Seconds(), name)
	fs.gauge(probeExitCode, float64(s.ExitCode()), name)
	if f := s.Failure; f != nil {
		fs.gauge(failedCheckInfo, 1, name, string(f.Criterion), finesse.ScenarioFor(f.Code).Slug)
	}

	for _, cr := range s.Checks {
		if cr.Status == check.Skipped {
			continue
		}
		fs.gauge(checkDuration, cr.Duration.Seconds(), name, string(cr.Criterion))
		for _, p := range phaseTotals(cr.Phases) {
			fs.gauge(phaseDuration, p.Duration.Seconds(), name, string(cr.Criterion), p.Phase)
		}
	}

	if info := s.Info(); info != nil {
		fs.gauge(inService, boolValue(info.InService()), name)
		// Compared as check's warnings compare them, so the metric and the
		// warning agree.
		fs.gauge(maintenance, boolValue(strings.EqualFold(info.FinesseMMode, finesse.MaintenanceInProgress)), name)
		if info.LastCTIHeartbeatStatus != "" {
			fs.gauge(ctiHeartbeatOK, boolValue(strings.EqualFold(info.LastCTIHeartbeatStatus, finesse.HeartbeatSuccess)), name)
		}
	}

	if s.SystemInfo != nil {
		fs.certExpiry(name, portHTTPS, s.SystemInfo.Certificate)
	}
	if s.XMPP != nil {
		fs.certExpiry(name, portXMPP, s.XMPP.Certificate)
	}
}

func (fs families) certExpiry(server, port string, c *probe.Certificate) {
	if c == nil {
		return
	}
	fs.gauge(certNotAfter, float64(c.NotAfter.Unix()), server, port)
}

// phaseTotals adds up the phases of one criterion by name, in the order they
// first ran: a phase that ran twice would otherwise be two samples with the
// same labels, which promtext refuses along with every other metric.
func phaseTotals(ts []probe.Timing) []probe.Timing {
	var out []probe.Timing
	index := map[string]int{}
	for _, t := range ts {
		if i, ok := index[t.Phase]; ok {
			out[i].Duration += t.Duration
			continue
		}
		index[t.Phase] = len(out)
		out = append(out, t)
	}
	return out
}

// serverLabel is the server's name as given, except that bytes that are not
// UTF-8 become U+FFFD, as promtext writes them: two names that differ only
// there are one label value.
func serverLabel(name string) string { return strings.ToValidUTF8(name, "\uFFFD") }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
