package exporter

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/metrics"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// slot is the state of one target or cluster: the check in flight and the
// last one that finished.
type slot struct {
	running *call
	last    *call
}

// call is one check; res and at are set before done is closed.
type call struct {
	done chan struct{}
	res  check.Result
	at   time.Time
}

// authFailure remembers credentials that failed authentication.
type authFailure struct {
	generation string
	subject    string
	at         time.Time
}

func (r Request) key() string {
	if r.Cluster != "" {
		return "cluster\x00" + r.Cluster
	}
	return "target\x00" + r.Target
}

func (r Request) subject() string {
	if r.Cluster != "" {
		return "cluster " + r.Cluster
	}
	return r.Target
}

// credentials identifies the account a check logs in with; "" when it does
// not log in. A hash, so that the map does not hold one more copy of the
// password.
func credentials(o check.Options) string {
	if o.ConnectOnly {
		return ""
	}
	sum := sha256.Sum256([]byte(o.User + "\x00" + o.Password))
	return string(sum[:])
}

// result answers a scrape of req: the last result of req's target when it is
// recent or a check of it is in flight, a remembered authentication failure
// when p's credentials failed, or else a check run now. ok is false when ctx
// ended while waiting for another scrape's check.
func (e *Exporter) result(ctx context.Context, req Request, p Probe) (res check.Result, how string, ok bool) {
	key, creds := req.key(), credentials(p.Options)
	e.mu.Lock()
	s := e.slots[key]
	if s == nil {
		s = &slot{}
		e.slots[key] = s
	}
	if c := s.running; c != nil {
		e.mu.Unlock()
		select {
		case <-c.done:
			return c.res, resultCached, true
		case <-ctx.Done():
			return res, "", false
		}
	}
	if c := s.last; c != nil && time.Since(c.at) < e.cfg.MinInterval {
		e.mu.Unlock()
		return c.res, resultCached, true
	}
	if f, found := e.badCreds[creds]; found && creds != "" {
		if f.generation == p.Generation {
			e.mu.Unlock()
			res = suppressed(p, f)
			e.cfg.Logf("%s: not logging in as %q: it failed authentication on %s at %s (exit %d); "+
				"fix the password and rewrite the password file or the config file, or restart, to try again",
				req.subject(), p.Options.User, f.subject, f.at.Format(time.RFC3339), finesse.XMPPAuthFailed)
			e.record(req, res, resultAuthSuppressed)
			return res, resultAuthSuppressed, true
		}
		// The files changed: the password may have been fixed.
		delete(e.badCreds, creds)
	}
	c := &call{done: make(chan struct{})}
	s.running = c
	e.mu.Unlock()

	res = e.cfg.Check(e.ctx, p.Targets, p.Options)
	how = resultSuccess
	if res.ExitCode() != finesse.OK {
		how = resultFailure
	}
	e.countFailures(res)

	e.mu.Lock()
	c.res, c.at = res, time.Now()
	s.running, s.last = nil, c
	if creds != "" && authFailed(res) {
		e.badCreds[creds] = authFailure{generation: p.Generation, subject: req.subject(), at: c.at}
	}
	e.mu.Unlock()
	close(c.done)
	e.record(req, res, how)
	return res, how, true
}

func authFailed(r check.Result) bool {
	for _, s := range r.Servers {
		if s.ExitCode() == finesse.XMPPAuthFailed {
			return true
		}
	}
	return false
}

// suppressed is the result of a check not run because p's credentials
// failed authentication: every server fails the XMPP criterion with exit
// 22, as the check that failed did, so that alerts on it keep firing.
func suppressed(p Probe, f authFailure) check.Result {
	res := check.Result{Require: p.Options.Require, Started: time.Now()}
	if res.Require == "" {
		res.Require = check.RequireAll
	}
	mode, port := p.Options.XMPPMode, p.Options.XMPPPort
	if mode == "" {
		mode = xmppprobe.DirectTLS
	}
	if port == 0 {
		port = mode.DefaultPort()
	}
	for _, t := range p.Targets {
		checks := make([]check.CheckResult, len(finesse.Criteria))
		for i, c := range finesse.Criteria {
			checks[i] = check.CheckResult{Criterion: c, Status: check.Skipped}
			if c == finesse.CriterionXMPP {
				checks[i].Status = check.Fail
			}
		}
		// The facts of the XMPP criterion the report names: where the
		// login would have gone.
		facts := &xmppprobe.Facts{Addr: net.JoinHostPort(t.Host, strconv.Itoa(port)), Mode: mode}
		res.Servers = append(res.Servers, check.ServerResult{Target: t, Checks: checks, XMPP: facts,
			Failure: &check.Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPAuthFailed,
				Err: fmt.Errorf("not logged in: user %q failed authentication on %s at %s, and is not tried again "+
					"until the config file or the password file changes, or finessectl serve restarts "+
					"(Finesse locks an account after five bad passwords)", p.Options.User, f.subject, f.at.Format(time.RFC3339))}})
	}
	return res
}

// countFailures adds the failed servers of r to finessectl_probe_failures_total,
// by the scenario the metrics package names them with, read back from its
// exposition so that both always agree.
func (e *Exporter) countFailures(r check.Result) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Collector(r))
	families, err := reg.Gather()
	if err != nil {
		e.cfg.Logf("gather the check's metrics: %v", err)
		return
	}
	for _, mf := range families {
		if mf.GetName() != "finesse_probe_failed_check_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "scenario" {
					e.failures.WithLabelValues(l.GetValue()).Inc()
				}
			}
		}
	}
}
