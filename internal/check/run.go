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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/finessectl/finessectl/internal/boshprobe"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Defaults of the guide's pipeline.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultPresenceTimeout = 3 * time.Second
	// DefaultConcurrency bounds the checks in flight. Each holds two
	// sockets (SystemInfo's and the Notification Service's, dialed
	// together), so 256 stay within even a 1024 file-descriptor limit.
	// Starting a check costs CPU (TLS key shares, about half a millisecond
	// each): 256 at once take a small share of a deadline on the 2-core
	// machines monitoring often runs on, where thousands would eat into each
	// other's deadlines. And few deployments have more than 256 nodes, so
	// most take one wave.
	DefaultConcurrency = 256
	// DefaultCertWarn and DefaultCertCrit are how close to expiry a port's
	// certificate gets a warning, and a critical one.
	DefaultCertWarn = 30 * 24 * time.Hour
	DefaultCertCrit = 7 * 24 * time.Hour
	// stuckGrace is how long past its deadline a server check may run before
	// Run gives up on it: a loaded machine is slow to close sockets and
	// return. It stays well under a second because one wave, report
	// included, must end within timeout + 1 s.
	stuckGrace = 500 * time.Millisecond
)

// Options configure a run. The zero value of a field means its default.
type Options struct {
	Timeout         time.Duration // one deadline per server for all three criteria
	PresenceTimeout time.Duration // how long to wait for the 'finesse' presence
	// XMPPTransport is how the Notification Service is reached. Empty
	// means TransportAuto, or TransportTCP when XMPPMode or XMPPPort is
	// set, which is what they meant before WebSocket was checked.
	XMPPTransport Transport
	XMPPMode      xmppprobe.TLSMode
	// XMPPPort is the XMPP port over TCP (0: the mode's, 5223 direct, 5222
	// STARTTLS), the WebSocket port with TransportWebSocket (0: the HTTPS
	// port SystemInfo answered on), and auto's last resort, direct TLS
	// (0: 5223).
	XMPPPort      int
	WebSocketPath string // finesse.WebSocketPath when empty
	// BOSHProbe adds a login-free check of BOSH, reported on its own;
	// RequireBOSH makes its failure fail the XMPP criterion.
	BOSHProbe, RequireBOSH bool
	// BOSHPort serves the Notification Service's HTTP endpoints: BOSH, and
	// the WebSocket that auto tries second. 0 means finesse.BOSHPort (7443).
	BOSHPort       int
	TLS            *tls.Config // trust for both ports; nil means the system roots
	TLSServerName  string      // verify both ports against this name instead of the dialed host
	User, Password string      // the probe account; ignored with ConnectOnly
	FinesseJID     string      // default finesse@<xmppDomain>
	ConnectOnly    bool        // stop after the XMPP stream is negotiated, without logging in
	// Sequential dials the Notification Service only after SystemInfo
	// passed, instead of while SystemInfo is fetched, and sends each XMPP
	// request only after the answer to the one before (xmppprobe's
	// Lockstep), for a server that mishandles pipelined input.
	Sequential bool
	// Trace receives the XMPP conversation of every server, credentials
	// redacted, each line prefixed with the server's name.
	Trace    io.Writer
	Resolver *net.Resolver // nil means the system's
	// Concurrency is how many servers are checked at once; the others wait
	// their turn, in the order given, before their deadline starts.
	Concurrency int
	Require     Require // RequireAll when empty
	// Peers adds the alternate node each server's SystemInfo names, once,
	// checked after the servers given.
	Peers bool
	// PeerAllowed, when set, is asked about each such node before it is
	// checked; one it refuses is not checked and not in the result. A
	// peer's name comes from a server's SystemInfo, and its check sends
	// the probe password: serve's way of keeping that password to the
	// hosts it was told of.
	PeerAllowed        func(Target) error
	CertWarn, CertCrit time.Duration
	Now                func() time.Time // time.Now when nil
	// Logins, when set, is asked before every login and told how it
	// ended; serve's way of keeping a storm of scrapes from locking the
	// probe account.
	Logins LoginGate
}

// LoginGate admits logins. Finesse locks an account after five bad
// passwords, so a caller that runs many checks with one account can hold
// them to one login at a time and refuse credentials that already failed.
type LoginGate interface {
	// Begin waits for a login's turn. An error wrapping ErrLoginRefused
	// means the login must not be tried, and fails the XMPP criterion with
	// exit 22 as a rejected password does.
	Begin(ctx context.Context) error
	// End follows every successful Begin, saying whether the server
	// rejected the credentials.
	End(rejected bool)
}

// ErrLoginRefused marks a LoginGate's refusal.
var ErrLoginRefused = errors.New("login refused")

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PresenceTimeout <= 0 {
		o.PresenceTimeout = DefaultPresenceTimeout
	}
	if o.XMPPTransport == "" {
		o.XMPPTransport = TransportAuto
		if o.XMPPMode != "" || o.XMPPPort != 0 {
			o.XMPPTransport = TransportTCP
		}
	}
	if o.XMPPMode == "" {
		o.XMPPMode = xmppprobe.DirectTLS
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Require == "" {
		o.Require = RequireAll
	}
	if o.CertWarn <= 0 {
		o.CertWarn = DefaultCertWarn
	}
	if o.CertCrit <= 0 {
		o.CertCrit = DefaultCertCrit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Run checks the targets, at most opts.Concurrency at once and each under
// its own deadline from when its check starts, and returns their verdicts in
// the order given.
func Run(ctx context.Context, targets []Target, opts Options) Result {
	start := time.Now()
	opts = opts.withDefaults()
	res := Result{Require: opts.Require, Started: opts.Now(), CertWarn: opts.CertWarn, CertCrit: opts.CertCrit}
	res.Servers = runRound(ctx, targets, opts)
	if opts.Peers {
		peers, of := peerTargets(targets, res.Servers, opts.PeerAllowed)
		for i, s := range runRound(ctx, peers, opts) {
			s.PeerOf = of[i]
			res.Servers = append(res.Servers, s)
		}
	}
	for i := range res.Servers {
		res.Servers[i].Warnings = append(res.Servers[i].Warnings, certWarnings(res.Servers[i], res)...)
	}
	res.linkPeers()
	res.Duration = time.Since(start)
	return res
}

func runRound(ctx context.Context, targets []Target, opts Options) []ServerResult {
	trace := &traceSink{w: opts.Trace}
	deadline, _ := ctx.Deadline()
	return collect(targets, opts.Concurrency, opts.Timeout, deadline, stuckGrace, func(t Target, p *progress) ServerResult {
		return checkServer(ctx, t, opts, trace.forServer(t.Name), p)
	}).Servers
}

// Establish checks one server as Run does and, when it is fully available,
// leaves its XMPP session open, logged in and past the 'finesse' presence,
// for the caller to stay connected as a desktop does, and to Close. When
// only the presence failed, on a stream that still stands, the session is
// left open too: the guide's recovery waits on it for the presence. On any
// other failure the session is closed.
func Establish(ctx context.Context, t Target, opts Options) (ServerResult, *xmppprobe.Session) {
	opts = opts.withDefaults()
	r, sess := establish(ctx, t, opts, (&traceSink{w: opts.Trace}).forServer(t.Name), newProgress(t, time.Now()))
	if r.Failure != nil && !r.StreamStands() {
		sess.Close()
	}
	return r, sess
}

// StreamStands tells a failure of the 'finesse' presence on a stream that
// still stands, which the guide's recovery waits on, from every other: the
// session Establish returned is then still open.
func (r ServerResult) StreamStands() bool {
	f := r.Failure
	return f != nil && f.Criterion == finesse.CriterionPresence && f.Code != finesse.XMPPConnectionFailed
}

// SystemInfoClient is the client a check of a server fetches SystemInfo with.
func (o Options) SystemInfoClient() *systeminfo.Client {
	https := o.TLS.Clone()
	if o.TLSServerName != "" {
		https.ServerName = o.TLSServerName
	}
	// A client, and so a transport, of its own per server: checks share no
	// connections, and a failed fetch's cleanup (which walks every dial of
	// its transport) stays cheap with thousands in flight.
	return &systeminfo.Client{TLS: https, Resolver: o.Resolver}
}

// peerTargets are the alternate nodes the results' SystemInfo names that
// are not among the servers checked already, each once, with the server
// that named it. A name that is not a valid host is passed over, and so is
// one allowed refuses, when it is set.
func peerTargets(targets []Target, results []ServerResult, allowed func(Target) error) (peers []Target, of []string) {
	seen := map[string]bool{}
	for _, t := range targets {
		seen[strings.ToLower(t.Host)] = true
	}
	// A server dialed by address is known by name through its SystemInfo:
	// xmppDomain names the node itself (finesse.js relies on it).
	for _, r := range results {
		if info := r.Info(); info != nil && info.XMPPDomain != "" {
			seen[strings.ToLower(info.XMPPDomain)] = true
		}
	}
	for _, r := range results {
		t, ok := r.AlternateTarget()
		if !ok || seen[strings.ToLower(t.Host)] {
			continue
		}
		seen[strings.ToLower(t.Host)] = true
		if allowed != nil && allowed(t) != nil {
			continue
		}
		peers, of = append(peers, t), append(of, r.Target.Name)
	}
	return peers, of
}

// AlternateTarget is the alternate node r's SystemInfo names, on the HTTPS
// port SystemInfo gives for it, else r's; false when there is none, or its
// name is not a valid host.
func (r ServerResult) AlternateTarget() (Target, bool) {
	alt := r.AlternateHost()
	if alt == "" {
		return Target{}, false
	}
	port := r.Target.HTTPSPort
	if n := alternateNode(r.Info(), alt); n != nil {
		if p, err := strconv.Atoi(n.HTTPSPort); err == nil {
			port = p
		}
	}
	t, err := ParseTarget(net.JoinHostPort(alt, strconv.Itoa(port)))
	return t, err == nil
}

func alternateNode(info *systeminfo.Info, host string) *systeminfo.Node {
	for _, n := range []*systeminfo.Node{info.PrimaryNode, info.SecondaryNode} {
		if n != nil && n.Host == host {
			return n
		}
	}
	return nil
}

// certWarnings warns of the certificates, on ports whose criterion passed,
// that are close to expiry.
func certWarnings(s ServerResult, r Result) []Warning {
	var ws []Warning
	if s.SystemInfo != nil && s.Checks[0].Status == Pass {
		ws = append(ws, certWarning(WarnHTTPSCertExpiring, s.SystemInfo.Certificate, r.Started, r.CertWarn, r.CertCrit)...)
	}
	if s.XMPP != nil && s.Checks[1].Status == Pass {
		ws = append(ws, certWarning(WarnXMPPCertExpiring, s.XMPP.Certificate, r.Started, r.CertWarn, r.CertCrit)...)
	}
	return ws
}

// collect runs check on every target, at most limit at once, starting them
// in the order given. A check that has not returned by its own start plus
// timeout plus grace is given up on and judged by its progress, so a wave
// ends on time however slowly a loaded machine closes sockets; a check that
// panics is an internal error rather than Go's exit status 2.
//
// A non-zero deadline bounds the whole run, as a scrape's does: a check gets
// what is left of it when that is less than timeout, and a server whose turn
// comes after it is not checked.
func collect(targets []Target, limit int, timeout time.Duration, deadline time.Time, grace time.Duration, check func(Target, *progress) ServerResult) Result {
	res := Result{Servers: make([]ServerResult, len(targets))}
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, t := range targets {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			// The verdict and the give-up race; the first settles the server.
			// Its slot is freed then, even if the check runs on: a check
			// that never returns must not stall the waves behind it.
			var settled atomic.Bool
			settle := func(r ServerResult) {
				if settled.CompareAndSwap(false, true) {
					res.Servers[i] = r
					<-slots
					wg.Done()
				}
			}
			start := time.Now()
			timeout := timeout
			if !deadline.IsZero() {
				timeout = min(timeout, deadline.Sub(start))
			}
			if timeout <= 0 {
				settle(notChecked(t))
				return
			}
			p := newProgress(t, start)
			giveUp := time.AfterFunc(timeout+grace, func() { settle(p.overdue(timeout, time.Since(start))) })
			r := guarded(t, func(t Target) ServerResult { return check(t, p) })
			giveUp.Stop()
			settle(r)
		}()
	}
	wg.Wait()
	return res
}

// progress is how far a server check has come, for collect to judge the
// server by if the check overruns its deadline.
type progress struct {
	mu      sync.Mutex
	at      finesse.Criterion // the criterion in progress
	since   time.Time
	partial ServerResult // the facts of the criteria that passed
}

// newProgress puts a check that has not recorded anything yet in the first
// criterion: until SystemInfo answers, the server has not answered at all.
func newProgress(t Target, start time.Time) *progress {
	return &progress{at: finesse.CriterionSystemInfo, since: start, partial: ServerResult{Target: t, Checks: initialChecks()}}
}

// enter is called as criterion c starts, with what r's check knows so far.
// Checks is copied because the check goes on filling it in; the facts r
// points to are shared with the give-up, so the check must not change them.
func (p *progress) enter(c finesse.Criterion, r ServerResult) {
	r.Checks = slices.Clone(r.Checks)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at, p.since, p.partial = c, time.Now(), r
}

// overdueCodes are the exit codes of a server that stops answering during a
// criterion: the same as when the check's own deadline catches it.
var overdueCodes = map[finesse.Criterion]finesse.Code{
	finesse.CriterionSystemInfo: finesse.SystemInfoUnreachable,
	finesse.CriterionXMPP:       finesse.XMPPConnectionFailed,
	finesse.CriterionPresence:   finesse.FinessePresenceMissing,
}

// overdue is the verdict on a server whose check was given up on after
// elapsed: the criterion in progress failed for lack of an answer.
func (p *progress) overdue(timeout, elapsed time.Duration) ServerResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, at := p.partial, p.at
	r.Failure = &Failure{Criterion: at, Code: overdueCodes[at],
		Err: fmt.Errorf("the server did not answer before the %v deadline: %w", timeout, context.DeadlineExceeded)}
	finish(&r, at, p.since, r.Failure)
	r.Duration = elapsed
	return r
}

func guarded(t Target, check func(Target) ServerResult) (r ServerResult) {
	defer func() {
		if p := recover(); p != nil {
			r = internalFailure(t, fmt.Errorf("the check panicked: %v; this is a bug in finessectl", p))
		}
	}()
	return check(t)
}

// notChecked is a server whose turn came after the run's deadline. No
// criterion failed, so none is named; the exit code is finessectl's own.
func notChecked(t Target) ServerResult {
	return internalFailure(t, fmt.Errorf("not checked: the run's deadline passed before this server's turn: %w", context.DeadlineExceeded))
}

// internalFailure is a verdict finessectl could not reach; no criterion is
// to blame, so none is named.
func internalFailure(t Target, err error) ServerResult {
	return ServerResult{Target: t, Checks: initialChecks(),
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
func checkServer(ctx context.Context, t Target, o Options, trace io.Writer, p *progress) ServerResult {
	r, sess := establish(ctx, t, o, trace, p)
	sess.Close()
	return r
}

// establish is checkServer leaving the session open: closed, or never
// opened, only if a criterion before presence failed. Close is safe either
// way.
func establish(ctx context.Context, t Target, o Options, trace io.Writer, p *progress) (r ServerResult, sess *xmppprobe.Session) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r = ServerResult{Target: t, Checks: initialChecks(), ConnectOnly: o.ConnectOnly}
	defer func() { r.Duration = time.Since(start) }()

	// The Notification Service's connection is dialed while SystemInfo is
	// in flight: a dial sends no XMPP, so it has no effect on the server
	// even when SystemInfo then fails, and it saves the round trips of
	// TCP, TLS and a WebSocket upgrade.
	var d *dialer
	if !o.Sequential {
		d = startDial(ctx, t, o, trace)
	}
	defer func() { d.stop() }()
	sess = xmppprobe.New(xmppprobe.Config{})
	if r.Failure = checkSystemInfo(ctx, &r, o.SystemInfoClient(), p); r.Failure != nil {
		return r, sess
	}
	r.Warnings = infoWarnings(r.SystemInfo.Info)
	if d == nil {
		d = startDial(ctx, t, o, trace)
	}

	if o.BOSHProbe {
		// The BOSH probe runs last, in the time the criteria left, and
		// counts only when they all passed.
		defer func() { checkBOSH(ctx, &r, o) }()
	}
	sess, r.Failure = checkXMPP(ctx, &r, o, d, p)
	if r.Failure != nil || o.ConnectOnly {
		return r, sess
	}
	r.Failure = checkPresence(ctx, &r, sess, PresenceJID(r.SystemInfo.Info, t, o), o.PresenceTimeout, p)
	return r, sess
}

// checkBOSH probes BOSH on the node's 7443 and, with RequireBOSH, fails the
// XMPP criterion when it fails and nothing else did.
func checkBOSH(ctx context.Context, r *ServerResult, o Options) {
	url := "https://" + net.JoinHostPort(r.Target.Host, strconv.Itoa(o.boshPort())) + finesse.BOSHPath
	res, err := boshprobe.Probe(ctx, boshprobe.Config{URL: url, Domain: xmppDomain(r.Info(), r.Target),
		TLS: nodeTLS(r.Target, o), Resolver: o.Resolver})
	r.BOSH = &BOSHResult{Result: res, Err: err}
	if err != nil && o.RequireBOSH && r.Failure == nil {
		r.Failure = &Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPConnectionFailed,
			Err: fmt.Errorf("BOSH probe of %s (--require-bosh): %w", url, err)}
		if c := r.checkOf(finesse.CriterionXMPP); c != nil {
			c.Status = Fail
		}
	}
}

// finish records a criterion's outcome in r.Checks.
func finish(r *ServerResult, c finesse.Criterion, start time.Time, f *Failure) *Failure {
	if rc := r.checkOf(c); rc != nil {
		rc.Duration = time.Since(start)
		rc.Status = Pass
		if f != nil {
			rc.Status = Fail
		}
	}
	return f
}

func checkSystemInfo(ctx context.Context, r *ServerResult, client *systeminfo.Client, p *progress) *Failure {
	p.enter(finesse.CriterionSystemInfo, *r)
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

// PresenceJID is the JID whose presence is the third criterion:
// --finesse-jid, or the 'finesse' user of the node's XMPP domain.
func PresenceJID(info *systeminfo.Info, t Target, o Options) string {
	if o.FinesseJID != "" {
		return o.FinesseJID
	}
	return finesse.FinesseUser + "@" + xmppDomain(info, t)
}

// nodeTLS is the trust for the Notification Service's ports. They share
// Tomcat's certificate, which names this node, while the XMPP domain is a
// name the operator may not have dialed (an address, a load-balancer name):
// verify what was dialed.
func nodeTLS(t Target, o Options) *tls.Config {
	cfg := o.TLS.Clone()
	cfg.ServerName = t.Host
	if o.TLSServerName != "" {
		cfg.ServerName = o.TLSServerName
	}
	return cfg
}

func xmppConfig(t Target, o Options, rt route, trace io.Writer) xmppprobe.Config {
	return xmppprobe.Config{
		Addr:          net.JoinHostPort(t.Host, strconv.Itoa(rt.port)),
		Transport:     rt.transport,
		Mode:          rt.mode,
		WebSocketPath: o.WebSocketPath,
		TLS:           nodeTLS(t, o),
		Trace:         trace,
		Resolver:      o.Resolver,
		Lockstep:      o.Sequential,
	}
}

// checkXMPP opens the stream on the connection d dialed, logs in unless
// ConnectOnly, and returns the session, open or not.
func checkXMPP(ctx context.Context, r *ServerResult, o Options, d *dialer, p *progress) (*xmppprobe.Session, *Failure) {
	start := time.Now()
	domain := xmppDomain(r.Info(), r.Target)
	// A check given up on while the dial goes on still reports the address
	// it was dialing.
	dialing, route := d.current()
	dialing.Domain = domain
	r.XMPP, r.XMPPRoute = &dialing, &route
	p.enter(finesse.CriterionXMPP, *r)
	sess, dialed, err := d.wait()
	r.XMPPRoute = &dialed
	if err == nil {
		err = sess.Open(ctx, domain)
	}
	if err == nil && !o.ConnectOnly {
		err = login(ctx, sess, o)
	}
	facts := sess.Facts()
	if facts.Domain == "" {
		// The stream was never opened; this is the domain it was for.
		facts.Domain = domain
	}
	r.XMPP = &facts
	r.Checks[1].Phases = facts.Timings
	var f *Failure
	if err != nil {
		f = &Failure{Criterion: finesse.CriterionXMPP, Code: xmppCode(err), Err: err}
		if f.Code == finesse.XMPPAuthFailed {
			f.Hints = authHints(r.Info(), o.User)
		}
	}
	// The criterion's time is its own work: from here on, and the part of
	// the dial that ran while SystemInfo was fetched, not the time the dial
	// waited on SystemInfo.
	ahead := d.end.Sub(d.start)
	if d.end.After(start) {
		ahead = start.Sub(d.start)
	}
	return sess, finish(r, finesse.CriterionXMPP, start.Add(-ahead), f)
}

func login(ctx context.Context, sess *xmppprobe.Session, o Options) error {
	if o.Logins == nil {
		return sess.Login(ctx, o.User, o.Password, xmppprobe.NewResource())
	}
	if err := o.Logins.Begin(ctx); err != nil {
		return err
	}
	err := sess.Login(ctx, o.User, o.Password, xmppprobe.NewResource())
	var rejected *xmppprobe.AuthError
	o.Logins.End(errors.As(err, &rejected))
	return err
}

func checkPresence(ctx context.Context, r *ServerResult, sess *xmppprobe.Session, jid string, wait time.Duration, p *progress) *Failure {
	// A check given up on still reports which presence it awaited.
	r.Presence = &PresenceResult{JID: jid}
	p.enter(finesse.CriterionPresence, *r)
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
