package check

import (
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/boshprobe"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Status is the outcome of one criterion.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skipped Status = "skipped"
)

// Failure is why a server is not available: the criterion that failed (none
// for an internal error), the exit code (and so the scenario) it maps to,
// and the underlying typed error. Renderers and the exit status both read
// it, so they cannot disagree.
type Failure struct {
	Criterion finesse.Criterion
	Code      finesse.Code
	Err       error
	// Hints are likely causes found in the facts, for the renderer to explain.
	Hints []Hint
}

func (f *Failure) Error() string {
	if f.Criterion == "" {
		return f.Err.Error()
	}
	return string(f.Criterion) + ": " + f.Err.Error()
}
func (f *Failure) Unwrap() error { return f.Err }

// Scenario explains the failure in the guide's words.
func (f *Failure) Scenario() finesse.Scenario { return finesse.ScenarioFor(f.Code) }

// Hint names a likely cause of a failure that the facts point to.
type Hint string

const (
	// HintAgentID: on UCCE the XMPP user is the numeric agent ID, and the
	// probe user is not a number.
	HintAgentID Hint = "agent-id"
	// HintSSO: SystemInfo reports SSO or HYBRID authentication, where desktop
	// users sign in with a token; a probe needs a non-SSO user.
	HintSSO Hint = "sso"
)

// Warning is something an operator should know about a server that passed
// all three criteria. It does not change the exit code; the monitoring
// plugin mode maps it to WARNING, or CRITICAL for a critical one.
type Warning struct {
	Code     WarningCode
	Severity Severity
}

// WarningCode names a warning; the codes are stable, for machines.
type WarningCode string

const (
	// WarnMaintenance: finesseMMode is IN_PROGRESS, the node is draining for
	// maintenance and desktops will move to the other node.
	WarnMaintenance WarningCode = "finesse-maintenance"
	// WarnCTIHeartbeat: lastCTIHeartbeatStatus is not success; desktops that
	// fail over check it before they connect.
	WarnCTIHeartbeat WarningCode = "cti-heartbeat"
	// WarnHTTPSCertExpiring and WarnXMPPCertExpiring: the port's certificate
	// expires within Options.CertWarn (critical within CertCrit). Both ports
	// usually share the Tomcat certificate, and an expired one is a classic
	// Finesse outage.
	WarnHTTPSCertExpiring WarningCode = "https-cert-expiring"
	WarnXMPPCertExpiring  WarningCode = "xmpp-cert-expiring"
)

// Severity grades a warning.
type Severity string

const (
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// CheckResult is the outcome of one criterion on one server.
type CheckResult struct {
	Criterion finesse.Criterion
	Status    Status
	Duration  time.Duration
	Phases    []probe.Timing
}

// PresenceResult is what the wait for the 'finesse' presence saw.
type PresenceResult struct {
	JID      string             // the bare JID awaited
	Received bool               // a presence of JID arrived
	Presence xmppprobe.Presence // its availability, and what the roster said
}

// ServerResult is the verdict on one server and the facts behind it. A
// probe's facts are nil when its criterion was not reached.
type ServerResult struct {
	Target     Target
	Checks     []CheckResult        // one per criterion, in the guide's order
	SystemInfo *systeminfo.Response // what the HTTPS request saw
	XMPP       *xmppprobe.Facts     // what the Notification Service session saw
	XMPPRoute  *Route               // how it was reached and why; nil before the XMPP criterion
	BOSH       *BOSHResult          // the BOSH probe's outcome; nil when not asked for or not reached
	Presence   *PresenceResult
	Failure    *Failure  // nil when every criterion that ran passed
	Warnings   []Warning // only on servers whose SystemInfo was read
	// AvailablePeers are the other servers of this run that are fully
	// available: where agents can go when SystemInfo names no alternate.
	AvailablePeers []string
	ConnectOnly    bool // presence was deliberately not checked
	// PeerOf names the server whose SystemInfo named this one as its
	// alternate, when it was added by Options.Peers; "" otherwise.
	PeerOf   string
	Duration time.Duration
}

// checkOf is r's record of criterion c; nil for a criterion it does not hold.
func (r *ServerResult) checkOf(c finesse.Criterion) *CheckResult {
	for i := range r.Checks {
		if r.Checks[i].Criterion == c {
			return &r.Checks[i]
		}
	}
	return nil
}

// Passed reports whether no criterion that ran failed: Available, or
// reachable in a --connect-only run.
func (r ServerResult) Passed() bool { return r.Failure == nil }

// Info is the parsed SystemInfo, nil when none was read.
func (r ServerResult) Info() *systeminfo.Info {
	if r.SystemInfo == nil {
		return nil
	}
	return r.SystemInfo.Info
}

// Available reports whether the server met all three criteria. A
// --connect-only run never proves that, even when nothing failed.
func (r ServerResult) Available() bool { return r.Failure == nil && !r.ConnectOnly }

// ExitCode is the server's code in the contract.
func (r ServerResult) ExitCode() finesse.Code {
	if r.Failure == nil {
		return finesse.OK
	}
	return r.Failure.Code
}

// AlternateHost is the other node of the Finesse pair, chosen as finesse.js
// does: when the XMPP domain names the primary, the secondary is the
// alternate; otherwise the primary is.
func (r ServerResult) AlternateHost() string {
	si := r.Info()
	if si == nil || si.PrimaryNode == nil || si.SecondaryNode == nil || si.SecondaryNode.Host == "" {
		return ""
	}
	if strings.EqualFold(si.XMPPDomain, si.PrimaryNode.Host) {
		return si.SecondaryNode.Host
	}
	return si.PrimaryNode.Host
}

// Require decides when the servers of a run, together, pass.
type Require string

const (
	// RequireAll: every server must pass.
	RequireAll Require = "all"
	// RequireAny: one server that passes is enough. Finesse nodes come in
	// pairs and desktops fail over, so one node down is a degraded service,
	// not an outage.
	RequireAny Require = "any"
)

// Verdict is the state of the servers of a run taken together.
type Verdict string

const (
	VerdictAvailable   Verdict = "available"   // every server passed
	VerdictDegraded    Verdict = "degraded"    // some passed, some did not
	VerdictUnavailable Verdict = "unavailable" // none passed
)

// Result is the verdict on every server, in the order they were given
// (peers added by Options.Peers last), and how the run judged them.
type Result struct {
	Servers []ServerResult
	Require Require
	// Started is when the run began; certificate lifetimes are counted from it.
	Started time.Time
	// CertWarn and CertCrit are the certificate-expiry thresholds in force.
	CertWarn, CertCrit time.Duration
	// Duration is the wall time of the whole run, waves and peers included.
	Duration time.Duration
	// Groups, when set, split Servers into runs judged each under its own
	// Require rule (see Join); Require then is the first group's.
	Groups []Group
}

// Passed counts the servers that passed.
func (r Result) Passed() int {
	n := 0
	for _, s := range r.Servers {
		if s.Passed() {
			n++
		}
	}
	return n
}

// ConnectOnly reports a --connect-only run: servers passed without presence.
func (r Result) ConnectOnly() bool {
	return len(r.Servers) > 0 && r.Servers[0].ConnectOnly
}

// Verdict says whether all, some or none of the servers passed.
func (r Result) Verdict() Verdict {
	passed := r.Passed()
	switch {
	case passed == len(r.Servers):
		return VerdictAvailable
	case passed > 0:
		return VerdictDegraded
	}
	return VerdictUnavailable
}

// ExitCode is OK when every group passes under its Require rule; otherwise
// the code of the first server, in the order given, of the first group that
// did not pass.
func (r Result) ExitCode() finesse.Code {
	for _, g := range r.Split() {
		if g.Require == RequireAny && g.Verdict() == VerdictDegraded {
			continue
		}
		for _, s := range g.Servers {
			if c := s.ExitCode(); c != finesse.OK {
				return c
			}
		}
	}
	return finesse.OK
}

// Group is a run of consecutive servers judged together under one Require
// rule: a cluster of a config file.
type Group struct {
	Name    string
	Require Require
	Size    int // how many servers of Result.Servers, from where the last group ended
}

// Split returns the groups of a joined result as results of their own, or r
// itself when it is one run.
func (r Result) Split() []Result {
	if len(r.Groups) == 0 {
		return []Result{r}
	}
	parts := make([]Result, 0, len(r.Groups))
	start := 0
	for _, g := range r.Groups {
		part := r
		part.Groups, part.Require = nil, g.Require
		part.Servers = r.Servers[start : start+g.Size]
		parts = append(parts, part)
		start += g.Size
	}
	return parts
}

// Join makes one result of runs checked one after another, each judged
// under its own Require rule; names name the groups in the same order.
func Join(names []string, runs []Result) Result {
	if len(runs) == 1 {
		return runs[0]
	}
	j := Result{Require: runs[0].Require, Started: runs[0].Started, CertWarn: runs[0].CertWarn, CertCrit: runs[0].CertCrit}
	for i, r := range runs {
		j.Servers = append(j.Servers, r.Servers...)
		j.Duration += r.Duration
		j.Groups = append(j.Groups, Group{Name: names[i], Require: r.Require, Size: len(r.Servers)})
	}
	return j
}

// linkPeers tells each server which of the others are fully available.
func (r Result) linkPeers() {
	for i := range r.Servers {
		for j, o := range r.Servers {
			if i != j && o.Available() {
				r.Servers[i].AvailablePeers = append(r.Servers[i].AvailablePeers, o.Target.Name)
			}
		}
	}
}

// BOSHResult is the login-free BOSH probe of a node: not one of the guide's
// criteria, reported next to them.
type BOSHResult struct {
	boshprobe.Result
	Err error // nil when a session was created and terminated
}
