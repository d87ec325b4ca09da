// Package nagios judges a check.Result the way a monitoring plugin must
// (the Monitoring Plugins development guidelines): one of four states, which
// is the process's exit code, and thresholds in the guidelines' range format.
// Sentences are not built here; internal/output renders the state.
package nagios

import (
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
)

// State is a plugin's verdict; its value is the exit code Nagios Core,
// Icinga 2 and Naemon read.
type State int

const (
	OK       State = 0
	Warning  State = 1
	Critical State = 2
	Unknown  State = 3
)

func (s State) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// severity orders states as monitoring-plugins' max_state_alt does:
// CRITICAL > WARNING > UNKNOWN > OK. UNKNOWN ranks below WARNING because it
// says the plugin could not judge, which is less news than a judged problem.
var severity = map[State]int{OK: 0, Unknown: 1, Warning: 2, Critical: 3}

// Worst is the more severe of a and b.
func Worst(a, b State) State {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

// ServerState is one server's state. A failure is CRITICAL whatever its
// criterion, timeouts, refusals and DNS failures included: the guidelines
// keep UNKNOWN for the plugin's own failures, which exit 70 is. A server that
// passed is WARNING or CRITICAL by its warnings' severity (a certificate
// within --cert-crit is critical).
func ServerState(s check.ServerResult) State {
	if s.Failure != nil {
		if s.Failure.Code == finesse.Internal {
			return Unknown
		}
		return Critical
	}
	st := OK
	for _, w := range s.Warnings {
		if w.Severity == check.SeverityCritical {
			st = Worst(st, Critical)
		} else {
			st = Worst(st, Warning)
		}
	}
	return st
}

// RunState is the state of the servers taken together under the run's
// Require rule (each group under its own, in a joined result), before any
// threshold on the run's duration.
//
// With --require all every server counts: the worst state wins. With
// --require any a failing server is tolerated while another passed, but the
// lost redundancy is at least WARNING; the servers that passed still count
// with their warnings. When none passed it is CRITICAL, or UNKNOWN when
// every failure was finessectl's own (exit 70), since then nothing was judged.
func RunState(r check.Result) State {
	st := OK
	for _, g := range r.Split() {
		st = Worst(st, groupState(g))
	}
	return st
}

// groupState is RunState for servers judged under one rule.
func groupState(r check.Result) State {
	if r.Require != check.RequireAny {
		st := OK
		for _, s := range r.Servers {
			st = Worst(st, ServerState(s))
		}
		return st
	}
	passed, ownFailures := OK, true
	for _, s := range r.Servers {
		if s.Passed() {
			passed = Worst(passed, ServerState(s))
		} else if s.Failure.Code != finesse.Internal {
			ownFailures = false
		}
	}
	switch r.Verdict() {
	case check.VerdictAvailable:
		return passed
	case check.VerdictDegraded:
		return Worst(passed, Warning)
	}
	if ownFailures {
		return Unknown
	}
	return Critical
}

// DurationState applies -w and -c (nil: not given) to a duration in seconds.
func DurationState(d time.Duration, warn, crit *Range) State {
	switch secs := d.Seconds(); {
	case crit != nil && crit.Alert(secs):
		return Critical
	case warn != nil && warn.Alert(secs):
		return Warning
	}
	return OK
}

// Evaluate is the plugin's state for a run: the servers' state, raised by
// the -w and -c thresholds on the run's total duration.
func Evaluate(r check.Result, warn, crit *Range) State {
	return Worst(RunState(r), DurationState(r.Duration, warn, crit))
}
