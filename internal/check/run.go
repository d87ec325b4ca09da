// Package check runs the guide's three availability criteria in order
// against each server, turns what the probes saw into a verdict and an exit
// code, and attaches the warnings and likely causes the facts point to. It
// writes no sentences: renderers build them from the result.
package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Defaults of the guide's pipeline.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultPresenceTimeout = 3 * time.Second
	// stuckGrace is how long past its deadline a server check may run before
	// Run gives up on it; the process must end within timeout + 1 s.
	stuckGrace = 500 * time.Millisecond
)

// Options configure a run. The zero value of a field means its default.
type Options struct {
	Timeout         time.Duration // one deadline per server for all three criteria
	PresenceTimeout time.Duration // how long to wait for the 'finesse' presence
	XMPPMode        xmppprobe.TLSMode
	XMPPPort        int         // 0 means the mode's Finesse port (5223 direct, 5222 STARTTLS)
	TLS             *tls.Config // trust for both ports; nil means the system roots
	TLSServerName   string      // verify both ports against this name instead of the dialed host
	User, Password  string      // the probe account; ignored with ConnectOnly
	FinesseJID      string      // default finesse@<xmppDomain>
	ConnectOnly     bool        // stop after the XMPP stream is negotiated, without logging in
	// Trace receives the XMPP conversation of every server, credentials
	// redacted, each line prefixed with the server's name.
	Trace    io.Writer
	Resolver *net.Resolver // nil means the system's
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PresenceTimeout <= 0 {
		o.PresenceTimeout = DefaultPresenceTimeout
	}
	if o.XMPPMode == "" {
		o.XMPPMode = xmppprobe.DirectTLS
	}
	if o.XMPPPort == 0 {
		o.XMPPPort = o.XMPPMode.DefaultPort()
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{}
	}
	return o
}

// Run checks every target concurrently, each under its own deadline, and
// returns their verdicts in the order given.
func Run(ctx context.Context, targets []Target, opts Options) Result {
	opts = opts.withDefaults()
	https := opts.TLS.Clone()
	if opts.TLSServerName != "" {
		https.ServerName = opts.TLSServerName
	}
	client := &systeminfo.Client{TLS: https, Resolver: opts.Resolver}
	trace := &traceSink{w: opts.Trace}
	res := collect(targets, opts.Timeout, stuckGrace, func(t Target) ServerResult {
		return checkServer(ctx, t, opts, client, trace.forServer(t.Name))
	})
	res.linkPeers()
	return res
}

// collect runs check on every target concurrently. It returns by timeout plus
// grace whatever the checks do: one that has not ended by then, or
// that panicked, is reported as an internal error instead of being waited for
// or taking the process down with Go's exit status 2.
func collect(targets []Target, timeout, grace time.Duration, check func(Target) ServerResult) Result {
	giveUp := time.NewTimer(timeout + grace)
	defer giveUp.Stop()

	done := make([]chan ServerResult, len(targets))
	for i, t := range targets {
		done[i] = make(chan ServerResult, 1)
		go func() { done[i] <- guarded(t, check) }()
	}
	res := Result{Servers: make([]ServerResult, len(targets))}
	late := false
	for i, t := range targets {
		if !late {
			select {
			case res.Servers[i] = <-done[i]:
				continue
			case <-giveUp.C:
				late = true
			}
		}
		// Past the grace period, take what has finished and give up on the rest.
		select {
		case res.Servers[i] = <-done[i]:
		default:
			res.Servers[i] = internalFailure(t, timeout+grace,
				fmt.Errorf("the check did not stop at its %v deadline; this is a bug in finessectl", timeout))
		}
	}
	return res
}

func guarded(t Target, check func(Target) ServerResult) (r ServerResult) {
	defer func() {
		if p := recover(); p != nil {
			r = internalFailure(t, 0, fmt.Errorf("the check panicked: %v; this is a bug in finessectl", p))
		}
	}()
	return check(t)
}

// internalFailure is a verdict finessectl could not reach; no criterion is
// to blame, so none is named.
func internalFailure(t Target, d time.Duration, err error) ServerResult {
	return ServerResult{Target: t, Checks: initialChecks(), Duration: d,
		Failure: &Failure{Code: finesse.Internal, Err: err}}
}

func initialChecks() []CheckResult {
	checks := make([]CheckResult, len(finesse.Criteria))
	for i, c := range finesse.Criteria {
		checks[i] = CheckResult{Criterion: c, Status: Skipped}
	}
	return checks
}

// checkServer runs the three criteria in order and stops at the first that fails.
func checkServer(ctx context.Context, t Target, o Options, client *systeminfo.Client, trace io.Writer) (r ServerResult) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r = ServerResult{Target: t, Checks: initialChecks(), ConnectOnly: o.ConnectOnly}
	defer func() { r.Duration = time.Since(start) }()

	if r.Failure = checkSystemInfo(ctx, &r, client); r.Failure != nil {
		return r
	}
	r.Warnings = warnings(r.SystemInfo.Info)

	sess := xmppprobe.New(xmppConfig(t, r.SystemInfo.Info, o, trace))
	defer sess.Close()
	if r.Failure = checkXMPP(ctx, &r, sess, o); r.Failure != nil || o.ConnectOnly {
		return r
	}
	r.Failure = checkPresence(ctx, &r, sess, presenceJID(r.SystemInfo.Info, t, o), o.PresenceTimeout)
	return r
}

// finish records a criterion's outcome in r.Checks.
func finish(r *ServerResult, c finesse.Criterion, start time.Time, f *Failure) *Failure {
	for i := range r.Checks {
		if r.Checks[i].Criterion == c {
			r.Checks[i].Duration = time.Since(start)
			r.Checks[i].Status = Pass
			if f != nil {
				r.Checks[i].Status = Fail
			}
		}
	}
	return f
}

func checkSystemInfo(ctx context.Context, r *ServerResult, client *systeminfo.Client) *Failure {
	start := time.Now()
	resp, err := client.Fetch(ctx, r.Target.BaseURL())
	r.SystemInfo = resp
	r.Checks[0].Phases = resp.Timings
	var f *Failure
	if err != nil {
		f = &Failure{Criterion: finesse.CriterionSystemInfo, Code: systemInfoCode(err), Err: err}
	}
	return finish(r, finesse.CriterionSystemInfo, start, f)
}

// xmppDomain is what goes into the stream header; Finesse's SystemInfo always
// names it, and the dialed host is the best guess if a proxy strips it.
func xmppDomain(info *systeminfo.Info, t Target) string {
	if info != nil && info.XMPPDomain != "" {
		return info.XMPPDomain
	}
	return t.Host
}

func presenceJID(info *systeminfo.Info, t Target, o Options) string {
	if o.FinesseJID != "" {
		return o.FinesseJID
	}
	return finesse.FinesseUser + "@" + xmppDomain(info, t)
}

func xmppConfig(t Target, info *systeminfo.Info, o Options, trace io.Writer) xmppprobe.Config {
	tlsCfg := o.TLS.Clone()
	// The Notification Service shares Tomcat's certificate, which names this
	// node, while xmppDomain may name the primary: verify what was dialed.
	tlsCfg.ServerName = t.Host
	if o.TLSServerName != "" {
		tlsCfg.ServerName = o.TLSServerName
	}
	return xmppprobe.Config{
		Addr:   net.JoinHostPort(t.Host, strconv.Itoa(o.XMPPPort)),
		Domain: xmppDomain(info, t),
		Mode:   o.XMPPMode,
		TLS:    tlsCfg,
		Trace:  trace,
	}
}

func checkXMPP(ctx context.Context, r *ServerResult, sess *xmppprobe.Session, o Options) *Failure {
	start := time.Now()
	err := sess.Connect(ctx)
	if err == nil && !o.ConnectOnly {
		err = sess.Login(ctx, o.User, o.Password, xmppprobe.NewResource())
	}
	facts := sess.Facts()
	r.XMPP = &facts
	r.Checks[1].Phases = facts.Timings
	var f *Failure
	if err != nil {
		f = &Failure{Criterion: finesse.CriterionXMPP, Code: xmppCode(err), Err: err}
		if f.Code == finesse.XMPPAuthFailed {
			f.Hints = authHints(r.Info(), o.User)
		}
	}
	return finish(r, finesse.CriterionXMPP, start, f)
}

func checkPresence(ctx context.Context, r *ServerResult, sess *xmppprobe.Session, jid string, wait time.Duration) *Failure {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pres, err := sess.AwaitPresence(ctx, jid)
	r.Presence = &PresenceResult{JID: jid, Received: err == nil, Presence: pres}
	var f *Failure
	var np *xmppprobe.NoPresenceError
	switch {
	case errors.As(err, &np):
		r.Presence.Presence.Roster = np.Roster
		f = &Failure{Criterion: finesse.CriterionPresence, Code: finesse.FinessePresenceMissing, Err: err}
	case err != nil:
		// The stream broke while waiting: the Notification Service failed.
		f = &Failure{Criterion: finesse.CriterionPresence, Code: finesse.XMPPConnectionFailed, Err: err}
	case !pres.Available:
		f = &Failure{Criterion: finesse.CriterionPresence, Code: finesse.FinesseUnavailable, Err: errFinesseUnavailable}
	}
	return finish(r, finesse.CriterionPresence, start, f)
}

// errFinesseUnavailable is the cause of exit 30; the presence facts say more.
var errFinesseUnavailable = errors.New("the 'finesse' user's presence is UNAVAILABLE")
