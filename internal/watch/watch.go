// Package watch follows one Finesse node the way an agent desktop does:
// it reaches "fully available" through the guide's three criteria, stays
// connected (priority-0 presence, XEP-0199 pings, SystemInfo notifications,
// the 'finesse' user's presence), notices each failure scenario of the
// guide, and follows the guide's recovery steps literally until the node is
// fully available again, meanwhile checking whether the alternate node could
// take the agents.
//
// Everything it sees is an Event; the report of a run is its outages.
// Nothing here writes: the caller renders events as they come.
package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Defaults of the desktop behaviour watch copies.
const (
	// DefaultPingInterval is how often the stream is pinged; finesse.js
	// pings every 10 s.
	DefaultPingInterval = 10 * time.Second
	// DefaultPollInterval is how often SystemInfo is polled while the node
	// is out; desktops poll every 20 s.
	DefaultPollInterval = 20 * time.Second
	// DefaultBackoffMin is the first wait before a reconnection; the waits
	// double up to the poll interval.
	DefaultBackoffMin = time.Second
)

// Until is when a watch ends by itself.
type Until string

const (
	UntilStopped   Until = ""          // only when its context ends (SIGINT, SIGTERM)
	UntilAvailable Until = "available" // as soon as the node is fully available: a go-live gate
	UntilFailure   Until = "failure"   // at the first failure scenario
)

// Config describes a watch.
type Config struct {
	Target check.Target
	// Alternate is the node agents would fail over to; nil means the one
	// the node's SystemInfo names, if any.
	Alternate *check.Target
	// Options check the node and the alternate: trust, credentials, ports,
	// and Timeout, the deadline of each check and of each SystemInfo poll.
	Options      check.Options
	PingInterval time.Duration // DefaultPingInterval when zero
	PollInterval time.Duration // DefaultPollInterval when zero
	BackoffMin   time.Duration // DefaultBackoffMin when zero
	Until        Until
	// MaxWait, with UntilAvailable, ends the watch with the current
	// scenario's exit code when the node is not available by then.
	MaxWait time.Duration
	// Emit receives every event, in order, from the watching goroutine.
	Emit func(Event)
	// Now and After are the clock; time.Now and time.After when nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Jitter returns a number in [0, 1) that spreads reconnections;
	// math/rand/v2's Float64 when nil.
	Jitter func() float64
}

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = min(DefaultBackoffMin, c.PollInterval)
	}
	if c.Options.Timeout <= 0 {
		c.Options.Timeout = check.DefaultTimeout
	}
	if c.Emit == nil {
		c.Emit = func(Event) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	return c
}

// Kind is what an event reports.
type Kind string

const (
	KindAvailable  Kind = "available"  // the node became fully available, at the start or after a reconnection
	KindOutage     Kind = "outage"     // a failure scenario began
	KindChanged    Kind = "changed"    // still out, for another reason now
	KindReconnect  Kind = "reconnect"  // the next attempt to connect, after Wait
	KindRecovering Kind = "recovering" // a step of the guide's recovery passed; not yet available
	KindAlternate  Kind = "alternate"  // the alternate node's verdict changed
	KindRecovered  Kind = "recovered"  // an outage ended: fully available again
	KindNotice     Kind = "notice"     // a notification watch does not understand, once per watch
	KindStopped    Kind = "stopped"    // the watch ended
)

// Event is one thing the watch saw.
type Event struct {
	Time   time.Time
	Server string
	Kind   Kind
	// Code is the node's state after the event: OK when fully available,
	// else the exit code of its failure scenario.
	Code finesse.Code
	// Via says how the change was seen: "check" (a connection attempt
	// through the three criteria), "stream" (the XMPP connection was lost),
	// "notification" (a SystemInfo notification), "presence" (the
	// 'finesse' user's presence), "poll" (SystemInfo polled during
	// recovery), "stop" (the watch ended).
	Via    string
	Detail string // the server's words or the error, not sanitized
	// Wait is the pause before a reconnection; Outage the length of the
	// outage that ended (KindRecovered).
	Wait   time.Duration
	Outage time.Duration
	// Alternate is the alternate node's verdict (KindAlternate).
	Alternate *check.ServerResult
}

// Criterion is the criterion that failed, "" when the node is available.
func (e Event) Criterion() finesse.Criterion { return finesse.ScenarioFor(e.Code).Criterion }

// Outage is a time the node was not fully available.
type Outage struct {
	Start time.Time
	End   time.Time // zero while it lasts
	// Code names the outage: of the scenarios it went through, the one of
	// the earliest criterion in the guide's order, as that failure explains
	// the later ones. A Notification Service restart often drops the
	// 'finesse' user's session before the watch's own, so it is seen as
	// 'finesse' unavailable first and as the lost connection a moment later;
	// it is named for the connection.
	Code finesse.Code
	// Seen is each scenario the outage went through, in the order first
	// seen; a scenario seen again is not repeated, so the list stays short
	// however long the outage flaps.
	Seen []finesse.Code
}

// criterionRank orders codes by the guide's criteria; codes of no
// criterion come last.
func criterionRank(c finesse.Code) int {
	if i := slices.Index(finesse.Criteria, finesse.ScenarioFor(c).Criterion); i >= 0 {
		return i
	}
	return len(finesse.Criteria)
}

// Report is the outcome of a watch.
type Report struct {
	Server  string
	Started time.Time
	Ended   time.Time
	Outages []Outage
	// Code is the exit code: OK, the failure's code under UntilFailure or
	// at MaxWait, XMPPAuthFailed when the probe's login was rejected.
	Code finesse.Code
}

// Downtime is the time the node spent out of service while watched.
func (r Report) Downtime() time.Duration {
	var d time.Duration
	for _, o := range r.Outages {
		end := o.End
		if end.IsZero() {
			end = r.Ended
		}
		d += end.Sub(o.Start)
	}
	return d
}

// MTTR is the mean time to recovery of the outages that ended; 0 when none did.
func (r Report) MTTR() time.Duration {
	var total time.Duration
	n := 0
	for _, o := range r.Outages {
		if !o.End.IsZero() {
			total += o.End.Sub(o.Start)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return total / time.Duration(n)
}

// errStop ends the watch; the report holds its exit code.
var errStop = errors.New("watch ended")

// Run watches until ctx ends or cfg.Until is met, and reports the outages.
func Run(ctx context.Context, cfg Config) Report {
	cfg = cfg.withDefaults()
	w := &watcher{cfg: cfg, code: finesse.OK,
		report:  Report{Server: cfg.Target.Name, Started: cfg.Now()},
		altDone: make(chan check.ServerResult, 1)}
	parent := ctx
	var cancel context.CancelFunc
	if cfg.Until == UntilAvailable && cfg.MaxWait > 0 {
		// The wait also cuts a check in flight short: its criterion in
		// progress fails for lack of an answer, as a check's deadline does.
		ctx, cancel = context.WithTimeout(ctx, cfg.MaxWait)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	w.ctx = ctx
	err := w.run(ctx)
	cancel()
	w.waitAlternate()
	w.report.Ended = cfg.Now()
	reason := "interrupted"
	switch {
	case errors.Is(err, errStop):
		w.report.Code, reason = w.exit, w.stopReason
	case parent.Err() == nil:
		// MaxWait passed: the node is not available, for its current reason.
		w.report.Code, reason = w.code, fmt.Sprintf("not fully available within --max-wait %v", cfg.MaxWait)
	}
	w.emit(Event{Kind: KindStopped, Code: w.report.Code, Via: "stop", Detail: reason})
	return w.report
}

type watcher struct {
	cfg    Config
	ctx    context.Context // the watch's; checks of the alternate end with it
	report Report
	code   finesse.Code // the node's state: OK or the open outage's current scenario
	// exit and stopReason say why run returned errStop.
	exit       finesse.Code
	stopReason string
	noticed    bool // a notification was reported as not understood

	alternate    *check.Target
	altRunning   bool
	altDone      chan check.ServerResult
	altLast      *check.ServerResult
	altNextCheck time.Time
}

func (w *watcher) emit(e Event) {
	e.Time = w.cfg.Now()
	e.Server = w.cfg.Target.Name
	w.cfg.Emit(e)
}

// run is the guide's loop: connect through the three criteria, stay
// connected while the node is available, and recover when it is not.
func (w *watcher) run(ctx context.Context) error {
	attempt := 0
	for {
		r, sess := check.Establish(ctx, w.cfg.Target, w.cfg.Options)
		if ctx.Err() != nil {
			sess.Close()
			if w.code == finesse.OK && r.Failure != nil {
				w.code = r.Failure.Code // the first check, cut short by --max-wait
			}
			return ctx.Err()
		}
		w.learnAlternate(r)
		if r.Failure == nil {
			if err := w.up("check", ""); err != nil {
				sess.Close()
				return err
			}
		} else if err := w.down(r.Failure.Code, "check", r.Failure.Err.Error()); err != nil {
			sess.Close()
			return err
		}
		if r.Failure == nil || r.StreamStands() {
			began := w.cfg.Now()
			if err := w.live(ctx, sess, r); err != nil {
				return err
			}
			if wait := w.reconnectWait(began, &attempt); wait > 0 {
				w.emit(Event{Kind: KindReconnect, Code: w.code, Via: "stream", Wait: wait})
				if err := w.sleep(ctx, wait); err != nil {
					return err
				}
			}
			continue
		}
		// SystemInfo is polled at the poll interval until IN_SERVICE; once
		// it is, the XMPP connection is tried again with growing pauses.
		wait := w.cfg.PollInterval
		if r.Failure.Criterion != finesse.CriterionSystemInfo {
			wait = w.backoff(attempt)
			attempt++
		}
		w.emit(Event{Kind: KindReconnect, Code: w.code, Via: "check", Wait: wait})
		if err := w.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// reconnectWait is the pause before reconnecting after the loss of a
// stream that stood from began. One that had stood a poll interval is
// reconnected at once, as the guide's step 1 starts with SystemInfo, and
// the attempts count from 0 again; one lost sooner waits as a failed
// attempt does, or a server that drops every stream right after the login
// would get logins, each with the password, without pause.
func (w *watcher) reconnectWait(began time.Time, attempt *int) time.Duration {
	if w.cfg.Now().Sub(began) >= w.cfg.PollInterval {
		*attempt = 0
		return 0
	}
	wait := w.backoff(*attempt)
	*attempt++
	return wait
}

// backoff is the pause before reconnection attempt n: doubling from
// BackoffMin up to the poll interval, each drawn between half and all of
// that, so that a fleet of watchers does not reconnect in step.
func (w *watcher) backoff(n int) time.Duration {
	d := w.cfg.BackoffMin
	for range n {
		if d >= w.cfg.PollInterval {
			break
		}
		d *= 2
	}
	d = min(d, w.cfg.PollInterval)
	return d/2 + time.Duration(w.cfg.Jitter()*float64(d/2))
}

// up records that the node is fully available.
func (w *watcher) up(via, detail string) error {
	if n := len(w.report.Outages); n > 0 && w.report.Outages[n-1].End.IsZero() {
		o := &w.report.Outages[n-1]
		o.End = w.cfg.Now()
		w.code = finesse.OK
		w.emit(Event{Kind: KindRecovered, Code: finesse.OK, Via: via, Detail: detail, Outage: o.End.Sub(o.Start)})
	} else {
		w.code = finesse.OK
		w.emit(Event{Kind: KindAvailable, Code: finesse.OK, Via: via, Detail: detail})
	}
	if w.cfg.Until == UntilAvailable {
		return w.stop(finesse.OK, "fully available (--until available)")
	}
	return nil
}

// down records a failure scenario: the start of an outage, or a change of
// scenario during one.
func (w *watcher) down(code finesse.Code, via, detail string) error {
	switch {
	case w.code == finesse.OK:
		w.report.Outages = append(w.report.Outages, Outage{Start: w.cfg.Now(), Code: code, Seen: []finesse.Code{code}})
		w.code = code
		w.emit(Event{Kind: KindOutage, Code: code, Via: via, Detail: detail})
		w.altNextCheck = time.Time{} // check the alternate now
	case w.code != code:
		o := &w.report.Outages[len(w.report.Outages)-1]
		if !slices.Contains(o.Seen, code) {
			o.Seen = append(o.Seen, code)
		}
		if criterionRank(code) < criterionRank(o.Code) {
			o.Code = code
		}
		w.code = code
		w.emit(Event{Kind: KindChanged, Code: code, Via: via, Detail: detail})
	}
	switch {
	case code == finesse.XMPPAuthFailed:
		return w.stop(code, "the probe's login was rejected; it is not retried, as five failed sign-ins lock a Finesse account")
	case code == finesse.Usage || code == finesse.Internal:
		return w.stop(code, detail)
	case w.cfg.Until == UntilFailure:
		return w.stop(code, "a failure scenario began (--until failure)")
	}
	w.checkAlternate()
	return nil
}

func (w *watcher) stop(code finesse.Code, reason string) error {
	w.exit, w.stopReason = code, reason
	return errStop
}

// sleep waits d, meanwhile checking the alternate.
func (w *watcher) sleep(ctx context.Context, d time.Duration) error {
	wake := w.cfg.After(d)
	w.checkAlternate()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return nil
		case r := <-w.altDone:
			w.alternateChecked(r)
		}
	}
}

// live stays connected on sess until the stream is lost (nil: reconnect),
// ctx ends or the watch is to stop (an error). It closes sess.
func (w *watcher) live(ctx context.Context, sess *xmppprobe.Session, r check.ServerResult) error {
	lctx, cancel := context.WithCancel(ctx)
	events := make(chan xmppprobe.LiveEvent)
	lost := make(chan error, 1)
	go func() {
		lost <- sess.Listen(lctx, xmppprobe.ListenConfig{
			WatchJID:     check.PresenceJID(r.Info(), w.cfg.Target, w.cfg.Options),
			PingInterval: w.cfg.PingInterval,
			PingTimeout:  w.cfg.Options.Timeout,
		}, func(e xmppprobe.LiveEvent) {
			select {
			case events <- e:
			case <-lctx.Done():
			}
		})
	}()
	listening := true
	var polls sync.WaitGroup
	// Listen returns before the session is closed, so that Close's
	// unavailable presence is the last thing the stream carries.
	defer func() {
		cancel()
		if listening {
			<-lost
		}
		sess.Close()
		polls.Wait()
	}()

	n := &nodeState{presence: r.Failure == nil, inService: true}
	polled := make(chan *pollResult, 1)
	polling := false
	startPoll := func() {
		polling = true
		polls.Add(1)
		go func() {
			defer polls.Done()
			w.poll(lctx, r, polled)
		}()
	}
	var nextPoll <-chan time.Time
	for {
		// While the node is out, SystemInfo is polled every interval.
		if w.code != finesse.OK && nextPoll == nil && !polling {
			nextPoll = w.cfg.After(w.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			listening = false
			if ctx.Err() != nil {
				// The watch ended and took the stream with it: both cases
				// were ready and select picked this one.
				return ctx.Err()
			}
			return w.down(finesse.XMPPConnectionFailed, "stream", "XMPP connection lost: "+err.Error())
		case e := <-events:
			if err := w.onLive(n, e); err != nil {
				return err
			}
			if n.confirm && !polling {
				// The presence is back; SystemInfo says whether the node is.
				n.confirm = false
				startPoll()
			}
		case <-nextPoll:
			nextPoll = nil
			if !polling && w.code != finesse.OK {
				startPoll()
			}
			w.checkAlternate()
		case p := <-polled:
			polling = false
			if err := w.onPoll(n, p); err != nil {
				return err
			}
		case a := <-w.altDone:
			w.alternateChecked(a)
		}
	}
}
