package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/textsafe"
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
	Trace           io.Writer   // XMPP conversation, credentials redacted
	Resource        func() string
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
	if o.Resource == nil {
		o.Resource = xmppprobe.NewResource
	}
	return o
}

// Run checks every target concurrently, each under its own deadline, and
// returns their verdicts in the order given.
func Run(ctx context.Context, targets []Target, opts Options) Result {
	opts = opts.withDefaults()
	client := newHTTPClient(opts)
	return collect(targets, opts.Timeout, stuckGrace, func(t Target) ServerResult {
		return checkServer(ctx, t, opts, client)
	})
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
		Failure: &Failure{Code: Internal, Err: err}}
}

func newHTTPClient(o Options) *http.Client {
	cfg := o.TLS.Clone()
	if o.TLSServerName != "" {
		cfg.ServerName = o.TLSServerName
	}
	return &http.Client{Transport: &http.Transport{
		// The check must see the server directly, as an agent desktop would;
		// a proxy from the environment would test the proxy instead.
		Proxy:             nil,
		DialContext:       (&net.Dialer{}).DialContext,
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}}
}

func initialChecks() []CheckResult {
	checks := make([]CheckResult, len(Criteria))
	for i, c := range Criteria {
		checks[i] = CheckResult{Criterion: c, Status: Skipped}
	}
	return checks
}

// checkServer runs the three criteria in order and stops at the first that fails.
func checkServer(ctx context.Context, t Target, o Options, client *http.Client) (r ServerResult) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	r = ServerResult{Target: t, Checks: initialChecks(), ConnectOnly: o.ConnectOnly}
	defer func() { r.Duration = time.Since(start) }()
	skipRest := func(from int, why string) {
		for i := from; i < len(r.Checks); i++ {
			r.Checks[i].Message = why
		}
	}

	info, chk, fail := checkSystemInfo(ctx, t, client)
	r.SystemInfo, r.Checks[0] = info, chk
	if fail != nil {
		r.Failure = fail
		skipRest(1, "not checked: the guide's criteria are checked in order, and systeminfo failed")
		return r
	}

	sess, chk, fail := checkXMPP(ctx, t, info, o)
	r.Checks[1] = chk
	if fail != nil {
		r.Failure = fail
		skipRest(2, "not checked: the 'finesse' presence cannot be seen without an XMPP session")
		return r
	}
	defer sess.Close()
	if o.ConnectOnly {
		skipRest(2, "not checked: --connect-only does not log in, so presence is unknown")
		return r
	}

	r.Checks[2], r.Failure = checkPresence(ctx, sess, presenceJID(info, t, o), o.PresenceTimeout)
	return r
}

func checkSystemInfo(ctx context.Context, t Target, client *http.Client) (*systeminfo.Info, CheckResult, *Failure) {
	start := time.Now()
	c := systeminfo.Client{HTTP: client}
	info, err := c.Fetch(ctx, t.BaseURL())
	chk := CheckResult{Criterion: CriterionSystemInfo, Duration: time.Since(start)}
	if err != nil {
		chk.Status, chk.Message = Fail, err.Error()
		return info, chk, &Failure{Criterion: CriterionSystemInfo, Code: systemInfoCode(err), Err: err}
	}
	chk.Status = Pass
	chk.Message = "status IN_SERVICE"
	if info.DeploymentType != "" {
		chk.Message += ", " + textsafe.Line(info.DeploymentType, 20)
	}
	if info.XMPPDomain != "" {
		chk.Message += ", XMPP domain " + textsafe.Line(info.XMPPDomain, 100)
	}
	return info, chk, nil
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
	return "finesse@" + xmppDomain(info, t)
}

func checkXMPP(ctx context.Context, t Target, info *systeminfo.Info, o Options) (*xmppprobe.Session, CheckResult, *Failure) {
	start := time.Now()
	chk := CheckResult{Criterion: CriterionXMPP}
	tlsCfg := o.TLS.Clone()
	// The Notification Service shares Tomcat's certificate, which names this
	// node, while xmppDomain may name the primary: verify what was dialed.
	tlsCfg.ServerName = t.Host
	if o.TLSServerName != "" {
		tlsCfg.ServerName = o.TLSServerName
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(o.XMPPPort))
	cfg := xmppprobe.Config{Addr: addr, Domain: xmppDomain(info, t), Mode: o.XMPPMode, TLS: tlsCfg, Trace: o.Trace}

	sess, err := xmppprobe.Dial(ctx, cfg)
	if err == nil && !o.ConnectOnly {
		err = sess.Login(ctx, o.User, o.Password, o.Resource())
	}
	chk.Duration = time.Since(start)
	if sess != nil {
		chk.Phases = phases(sess.Timings())
	}
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		chk.Status, chk.Message = Fail, fmt.Sprintf("%s (%s): %v", addr, o.XMPPMode.Label(), err)
		return nil, chk, &Failure{Criterion: CriterionXMPP, Code: xmppCode(err), Err: err}
	}
	chk.Status = Pass
	if o.ConnectOnly {
		chk.Message = fmt.Sprintf("stream negotiated with %s (%s); not logged in (--connect-only)", addr, o.XMPPMode.Label())
	} else {
		chk.Message = fmt.Sprintf("logged in to %s (%s) as %s", addr, o.XMPPMode.Label(), textsafe.Line(sess.JID(), 200))
	}
	return sess, chk, nil
}

func checkPresence(ctx context.Context, sess *xmppprobe.Session, jid string, wait time.Duration) (CheckResult, *Failure) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pres, err := sess.AwaitPresence(ctx, jid)
	jid = textsafe.Line(jid, 200) // from SystemInfo: shown, so made safe
	chk := CheckResult{Criterion: CriterionPresence, Duration: time.Since(start)}
	switch {
	case err != nil:
		code := XMPPConnectionFailed
		var np *xmppprobe.NoPresenceError
		if errors.As(err, &np) {
			code = FinessePresenceMissing
		}
		chk.Status, chk.Message = Fail, err.Error()
		return chk, &Failure{Criterion: CriterionPresence, Code: code, Err: err}
	case !pres.Available:
		msg := jid + " is UNAVAILABLE"
		if pres.Status != "" {
			msg += " (" + pres.Status + ")"
		}
		chk.Status, chk.Message = Fail, msg
		return chk, &Failure{Criterion: CriterionPresence, Code: FinesseUnavailable, Err: fmt.Errorf("%s", msg)}
	}
	chk.Status, chk.Message = Pass, jid+" is AVAILABLE"
	if pres.Show != "" {
		chk.Message += " (show " + pres.Show + ")"
	}
	return chk, nil
}

func phases(ts []xmppprobe.Timing) []PhaseTiming {
	out := make([]PhaseTiming, len(ts))
	for i, t := range ts {
		out[i] = PhaseTiming{Name: string(t.Phase), Duration: t.Duration}
	}
	return out
}
