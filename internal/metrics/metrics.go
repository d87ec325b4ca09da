// Package metrics turns a check.Result into Prometheus metrics: for
// node_exporter's textfile collector (WriteTextfile) and for an exporter that
// checks servers when it is scraped (Collector, registered into a registry
// made for that scrape).
//
// A Result is a finished run, so every metric is a constant gauge computed
// from it when collected; nothing accumulates between runs. The exposition is
// left to the client library, which escapes label values: a server name is
// the user's, and may hold quotes, backslashes or line breaks.
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
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
	probeSuccess = prometheus.NewDesc("finesse_probe_success",
		"1 if the server passed every criterion checked (SystemInfo IN_SERVICE, XMPP login, "+
			"presence of the 'finesse' user; with --connect-only, SystemInfo and the XMPP stream), 0 otherwise.",
		[]string{labelServer}, nil)
	probeDuration = prometheus.NewDesc("finesse_probe_duration_seconds",
		"Wall time of the server's check, all criteria included.",
		[]string{labelServer}, nil)
	checkDuration = prometheus.NewDesc("finesse_probe_check_duration_seconds",
		"Time spent on one criterion (systeminfo, xmpp, presence) of the server's check; "+
			"only criteria that ran.",
		[]string{labelServer, labelCheck}, nil)
	phaseDuration = prometheus.NewDesc("finesse_probe_phase_duration_seconds",
		"Time spent in one phase (dns, connect, tls, request, auth, bind, ...) of a criterion, "+
			"to tell network time from server time; only phases that completed.",
		[]string{labelServer, labelCheck, labelPhase}, nil)
	probeExitCode = prometheus.NewDesc("finesse_probe_exit_code",
		"finessectl's exit code for the server: 0 when it passed, 10-31 the failure scenario, 70 internal error.",
		[]string{labelServer}, nil)
	failedCheckInfo = prometheus.NewDesc("finesse_probe_failed_check_info",
		"Always 1, present only for a server that failed: the criterion that failed "+
			"(empty for an internal error) and a stable name of the scenario its exit code stands for.",
		[]string{labelServer, labelCheck, labelScenario}, nil)
	inService = prometheus.NewDesc("finesse_systeminfo_in_service",
		"1 if SystemInfo's status is IN_SERVICE, 0 for any other status; present only when SystemInfo was read.",
		[]string{labelServer}, nil)
	maintenance = prometheus.NewDesc("finesse_systeminfo_maintenance",
		"1 if SystemInfo's finesseMMode is IN_PROGRESS (the node drains for maintenance and desktops move "+
			"to the other node), 0 otherwise; present only when SystemInfo was read.",
		[]string{labelServer}, nil)
	ctiHeartbeatOK = prometheus.NewDesc("finesse_cti_heartbeat_ok",
		"1 if SystemInfo's lastCTIHeartbeatStatus is success, 0 if it is anything else; "+
			"present only when SystemInfo reports it.",
		[]string{labelServer}, nil)
	certNotAfter = prometheus.NewDesc("finesse_tls_cert_not_after_timestamp_seconds",
		"When the certificate the port (https or xmpp) presented expires, in seconds since the Unix epoch; "+
			"present only when a certificate was seen, also one that failed verification.",
		[]string{labelServer, labelPort}, nil)
	runVerdict = prometheus.NewDesc("finesse_run_verdict",
		"1 for the verdict on all servers of the run taken together (available: all passed, "+
			"degraded: some passed, unavailable: none passed), 0 for the other verdicts.",
		[]string{labelVerdict}, nil)
	runExitCode = prometheus.NewDesc("finesse_run_exit_code",
		"finessectl's exit code for the whole run under its --require rule.",
		nil, nil)
)

// verdicts are every value of the verdict label, all exported so that a
// query for one of them never finds nothing.
var verdicts = []check.Verdict{check.VerdictAvailable, check.VerdictDegraded, check.VerdictUnavailable}

// Collector exports r. It serves one registry, or several, for as long as
// they need it: each collection reads r afresh and changes nothing.
func Collector(r check.Result) prometheus.Collector { return collector{r} }

type collector struct{ r check.Result }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{probeSuccess, probeDuration, checkDuration, phaseDuration,
		probeExitCode, failedCheckInfo, inService, maintenance, ctiHeartbeatOK, certNotAfter,
		runVerdict, runExitCode} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	verdict := c.r.Verdict()
	for _, v := range verdicts {
		gauge(ch, runVerdict, boolValue(v == verdict), string(v))
	}
	gauge(ch, runExitCode, float64(c.r.ExitCode()))

	// The same server given twice is checked twice, but one set of label
	// values can be exported only once: the first result stands, as it is
	// the one the run's exit code reads first.
	seen := map[string]bool{}
	for _, s := range c.r.Servers {
		name := serverLabel(s.Target.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		collectServer(ch, name, s)
	}
}

func collectServer(ch chan<- prometheus.Metric, name string, s check.ServerResult) {
	// Passed, not Available: a --connect-only run passes a server that
	// answered both ports, and that is all it asked.
	gauge(ch, probeSuccess, boolValue(s.Passed()), name)
	gauge(ch, probeDuration, s.Duration.Seconds(), name)
	gauge(ch, probeExitCode, float64(s.ExitCode()), name)
	if f := s.Failure; f != nil {
		gauge(ch, failedCheckInfo, 1, name, string(f.Criterion), finesse.ScenarioFor(f.Code).Slug)
	}

	for _, cr := range s.Checks {
		if cr.Status == check.Skipped {
			continue
		}
		gauge(ch, checkDuration, cr.Duration.Seconds(), name, string(cr.Criterion))
		for _, p := range phaseTotals(cr.Phases) {
			gauge(ch, phaseDuration, p.Duration.Seconds(), name, string(cr.Criterion), p.Phase)
		}
	}

	if info := s.Info(); info != nil {
		gauge(ch, inService, boolValue(info.InService()), name)
		// Compared as check's warnings compare them, so the metric and the
		// warning agree.
		gauge(ch, maintenance, boolValue(strings.EqualFold(info.FinesseMMode, finesse.MaintenanceInProgress)), name)
		if info.LastCTIHeartbeatStatus != "" {
			gauge(ch, ctiHeartbeatOK, boolValue(strings.EqualFold(info.LastCTIHeartbeatStatus, finesse.HeartbeatSuccess)), name)
		}
	}

	if s.SystemInfo != nil {
		certExpiry(ch, name, portHTTPS, s.SystemInfo.Certificate)
	}
	if s.XMPP != nil {
		certExpiry(ch, name, portXMPP, s.XMPP.Certificate)
	}
}

func certExpiry(ch chan<- prometheus.Metric, server, port string, c *probe.Certificate) {
	if c == nil {
		return
	}
	gauge(ch, certNotAfter, float64(c.NotAfter.Unix()), server, port)
}

// phaseTotals adds up the phases of one criterion by name, in the order they
// first ran: a phase that ran twice would otherwise be two samples with the
// same labels, which the registry rejects along with every other metric.
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
// UTF-8 become U+FFFD: the client library refuses such a label value, and
// with it the whole exposition.
func serverLabel(name string) string { return strings.ToValidUTF8(name, "\uFFFD") }

// gauge sends one sample. A sample the library refuses becomes an invalid
// metric, which fails the Gather with the reason, rather than a panic in the
// middle of a scrape.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
