package check

import (
	"time"

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

// Warning is something an operator should know about a server that passed.
// Monitoring modes map warnings to WARNING.
type Warning string

const (
	// WarnMaintenance: finesseMMode is IN_PROGRESS, the node is draining for
	// maintenance and desktops will move to the other node.
	WarnMaintenance Warning = "finesse-maintenance"
	// WarnCTIHeartbeat: lastCTIHeartbeatStatus is not success; desktops that
	// fail over check it before they connect.
	WarnCTIHeartbeat Warning = "cti-heartbeat"
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
	Presence   *PresenceResult
	Failure    *Failure  // nil when every criterion that ran passed
	Warnings   []Warning // only on servers whose SystemInfo was read
	// AvailablePeers are the other servers of this run that are fully
	// available: where agents can go when SystemInfo names no alternate.
	AvailablePeers []string
	ConnectOnly    bool // presence was deliberately not checked
	Duration       time.Duration
}

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
func (r Result) ExitCode() finesse.Code {
	for _, s := range r.Servers {
		if c := s.ExitCode(); c != finesse.OK {
			return c
		}
	}
	return finesse.OK
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
