package check

import (
	"time"

	"github.com/finessectl/finessectl/internal/systeminfo"
)

// Criterion is one of the guide's three availability criteria.
type Criterion string

const (
	CriterionSystemInfo Criterion = "systeminfo"
	CriterionXMPP       Criterion = "xmpp"
	CriterionPresence   Criterion = "presence"
)

// Criteria lists the criteria in the order the guide requires.
var Criteria = []Criterion{CriterionSystemInfo, CriterionXMPP, CriterionPresence}

// Status is the outcome of one criterion.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skipped Status = "skipped"
)

// Failure is why a server is not available: the criterion that failed (none
// for an internal error), the exit code (and so the scenario) it maps to, and
// the underlying error.
// Renderers and the exit status both read it, so they cannot disagree.
type Failure struct {
	Criterion Criterion
	Code      Code
	Err       error
}

func (f *Failure) Error() string {
	if f.Criterion == "" {
		return f.Err.Error()
	}
	return string(f.Criterion) + ": " + f.Err.Error()
}
func (f *Failure) Unwrap() error { return f.Err }

// Scenario explains the failure in the guide's words.
func (f *Failure) Scenario() Scenario { return ScenarioFor(f.Code) }

// PhaseTiming is the duration of one step inside a criterion.
type PhaseTiming struct {
	Name     string
	Duration time.Duration
}

// CheckResult is the outcome of one criterion on one server.
type CheckResult struct {
	Criterion Criterion
	Status    Status
	Duration  time.Duration
	Message   string
	Phases    []PhaseTiming
}

// ServerResult is the verdict on one server.
type ServerResult struct {
	Target      Target
	Checks      []CheckResult    // one per criterion, in order
	Failure     *Failure         // nil when every criterion that ran passed
	SystemInfo  *systeminfo.Info // nil when SystemInfo could not be read
	ConnectOnly bool             // presence was deliberately not checked
	Duration    time.Duration
}

// Available reports whether the server met all three criteria. A
// --connect-only run never proves that, even when nothing failed.
func (r ServerResult) Available() bool { return r.Failure == nil && !r.ConnectOnly }

// ExitCode is the server's code in the contract.
func (r ServerResult) ExitCode() Code {
	if r.Failure == nil {
		return OK
	}
	return r.Failure.Code
}

// AlternateHost is the other node of the Finesse pair, chosen as finesse.js
// does: when the XMPP domain names the primary, the secondary is the
// alternate; otherwise the primary is.
func (r ServerResult) AlternateHost() string {
	si := r.SystemInfo
	if si == nil || si.PrimaryNode == nil || si.SecondaryNode == nil || si.SecondaryNode.Host == "" {
		return ""
	}
	if si.XMPPDomain == si.PrimaryNode.Host {
		return si.SecondaryNode.Host
	}
	return si.PrimaryNode.Host
}

// Result is the verdict on every server, in the order they were given.
type Result struct {
	Servers []ServerResult
}

// ExitCode is the code of the first server, in the order given, that is not
// fully available; OK when all are.
func (r Result) ExitCode() Code {
	for _, s := range r.Servers {
		if c := s.ExitCode(); c != OK {
			return c
		}
	}
	return OK
}
