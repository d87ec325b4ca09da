package watch

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/simulator"
)

// fast are intervals short enough for a test to walk through an outage and
// its recovery in well under a second, long enough for a loaded CI machine
// not to see a healthy node fail.
func fast(cfg Config) Config {
	cfg.PingInterval = 100 * time.Millisecond
	cfg.PollInterval = 200 * time.Millisecond
	cfg.BackoffMin = 50 * time.Millisecond
	cfg.Options.Timeout = 2 * time.Second
	cfg.Options.PresenceTimeout = time.Second
	return cfg
}

type testNode struct {
	cl           *simulator.Cluster
	failedLogins *atomic.Int32
}

func startNodes(t testing.TB, n int, s simulator.Scenario) (*testNode, check.Options) {
	t.Helper()
	tn := &testNode{failedLogins: &atomic.Int32{}}
	cl, err := simulator.Start(simulator.Config{Nodes: n, Scenario: s, Users: map[string]string{"1080001": "pw"},
		Logf: func(format string, args ...any) {
			if strings.Contains(fmt.Sprintf(format, args...), "SASL failure") {
				tn.failedLogins.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	tn.cl = cl
	_, _, secure := cl.Nodes[0].Ports()
	return tn, check.Options{XMPPPort: secure, TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: "1080001", Password: "pw"}
}

func target(t testing.TB, n *simulator.Node) check.Target {
	t.Helper()
	tg, err := check.ParseTarget(n.HTTPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// running is a watch in a goroutine, its events in a channel.
type running struct {
	events chan Event
	report chan Report
	cancel context.CancelFunc
	seen   []Event
}

func start(t testing.TB, cfg Config) *running {
	t.Helper()
	r := &running{events: make(chan Event, 10000), report: make(chan Report, 1)}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	cfg.Emit = func(e Event) { r.events <- e }
	go func() { r.report <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		r.cancel()
		select {
		case <-r.report:
		case <-time.After(10 * time.Second):
			t.Error("the watch did not end within 10s of its cancellation")
		}
	})
	return r
}

// await reads events until one of kind comes, within 15 s.
func (r *running) await(t testing.TB, kind Kind) Event {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-r.events:
			r.seen = append(r.seen, e)
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within 15s; saw %s", kind, story(r.seen))
		}
	}
}

// stop cancels the watch and returns its report, with every event seen.
func (r *running) stop(t *testing.T) Report {
	t.Helper()
	r.cancel()
	var rep Report
	select {
	case rep = <-r.report:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end within 10s of its cancellation")
	}
	r.report <- rep // for the cleanup
	for len(r.events) > 0 {
		r.seen = append(r.seen, <-r.events)
	}
	return rep
}

// story is the events' kinds, codes and ways of seeing, with the
// reconnection attempts and alternate verdicts, whose number depends on
// timing, left out.
func story(events []Event) string {
	var parts []string
	for _, e := range events {
		if e.Kind == KindReconnect || e.Kind == KindAlternate {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s/%d/%s", e.Kind, e.Code, e.Via))
	}
	return strings.Join(parts, " ")
}

// Each scenario of the guide's table is seen the way the guide says a
// desktop sees it, and its recovery follows the guide's steps, in order.
func TestWatchFollowsEachScenarioAndItsRecovery(t *testing.T) {
	tests := []struct {
		scenario simulator.Scenario
		want     string // the story, recovered/0/* matched on its prefix
	}{
		{simulator.NotificationDown, "available/0/check outage/20/stream recovered/0/check"},
		{simulator.OutOfService, "available/0/check outage/12/notification recovered/0/notification"},
		{simulator.TomcatDown, "available/0/check outage/30/presence recovering/30/presence recovered/0/poll"},
		{simulator.FinesseDisconnected, "available/0/check outage/30/presence recovering/30/presence recovered/0/poll"},
		{simulator.WebappDown, "available/0/check outage/30/presence changed/12/notification recovering/12/presence recovered/0/"},
		{simulator.NetworkLoss, "available/0/check outage/20/stream changed/10/check recovered/0/check"},
	}
	for _, tt := range tests {
		t.Run(string(tt.scenario), func(t *testing.T) {
			tn, opts := startNodes(t, 1, simulator.Healthy)
			node := tn.cl.Nodes[0]
			w := start(t, fast(Config{Target: target(t, node), Options: opts}))
			w.await(t, KindAvailable)
			if err := node.SetScenario(tt.scenario); err != nil {
				t.Fatal(err)
			}
			w.await(t, KindOutage)
			if tt.scenario == simulator.WebappDown || tt.scenario == simulator.NetworkLoss {
				w.await(t, KindChanged)
			}
			if err := node.SetScenario(simulator.Healthy); err != nil {
				t.Fatal(err)
			}
			recovered := w.await(t, KindRecovered)
			rep := w.stop(t)
			got := story(w.seen)
			got = got[:strings.Index(got, "recovered/0/")+len("recovered/0/")] + recovered.Via
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("events: %s\nwant:   %s", got, tt.want)
			}
			if len(rep.Outages) == 0 || rep.Outages[0].End.IsZero() || rep.Code != finesse.OK {
				t.Errorf("report: %+v", rep)
			}
			// The watch is stopped right after the recovery: ending it must
			// not be taken for the stream's loss.
			if len(rep.Outages) != 1 {
				t.Errorf("%d outages, want 1: %s", len(rep.Outages), story(w.seen))
			}
			if recovered.Outage <= 0 || recovered.Outage != rep.Outages[0].End.Sub(rep.Outages[0].Start) {
				t.Errorf("recovered after %v; outage %+v", recovered.Outage, rep.Outages[0])
			}
			if last := w.seen[len(w.seen)-1]; last.Kind != KindStopped || last.Code != finesse.OK {
				t.Errorf("last event %+v, want stopped", last)
			}
		})
	}
}

// A watch that ends leaves the server cleanly: its session is gone.
func TestWatchLeavesCleanly(t *testing.T) {
	tn, opts := startNodes(t, 1, simulator.Healthy)
	node := tn.cl.Nodes[0]
	w := start(t, fast(Config{Target: target(t, node), Options: opts}))
	w.await(t, KindAvailable)
	if n := node.Sessions(); n != 1 {
		t.Fatalf("%d sessions while watching, want 1", n)
	}
	w.stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for node.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := node.Sessions(); n != 0 {
		t.Errorf("%d sessions after the watch ended, want 0", n)
	}
}

// --until decides when a watch ends and with which code.
func TestWatchUntil(t *testing.T) {
	t.Run("available, at once", func(t *testing.T) {
		tn, opts := startNodes(t, 1, simulator.Healthy)
		rep := Run(context.Background(), fast(Config{Target: target(t, tn.cl.Nodes[0]), Options: opts, Until: UntilAvailable}))
		if rep.Code != finesse.OK || len(rep.Outages) != 0 {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("available, after a recovery", func(t *testing.T) {
		tn, opts := startNodes(t, 1, simulator.OutOfService)
		time.AfterFunc(500*time.Millisecond, func() { _ = tn.cl.Nodes[0].SetScenario(simulator.Healthy) })
		rep := Run(context.Background(), fast(Config{Target: target(t, tn.cl.Nodes[0]), Options: opts, Until: UntilAvailable}))
		if rep.Code != finesse.OK || len(rep.Outages) != 1 || rep.Outages[0].Code != finesse.NotInService || rep.Outages[0].End.IsZero() {
			t.Errorf("report %+v", rep)
		}
	})
	for _, tt := range []struct {
		scenario simulator.Scenario
		code     finesse.Code
	}{
		{simulator.NotificationDown, finesse.XMPPConnectionFailed},
		{simulator.WebappDown, finesse.NotInService},
		{simulator.NetworkLoss, finesse.SystemInfoUnreachable},
	} {
		t.Run("available, max-wait, "+string(tt.scenario), func(t *testing.T) {
			tn, opts := startNodes(t, 1, tt.scenario)
			cfg := fast(Config{Target: target(t, tn.cl.Nodes[0]), Options: opts, Until: UntilAvailable, MaxWait: 700 * time.Millisecond})
			start := time.Now()
			rep := Run(context.Background(), cfg)
			if rep.Code != tt.code {
				t.Errorf("exit %d, want %d; report %+v", rep.Code, tt.code, rep)
			}
			if elapsed := time.Since(start); elapsed > cfg.MaxWait+cfg.Options.Timeout {
				t.Errorf("--max-wait %v took %v", cfg.MaxWait, elapsed)
			}
		})
	}
	t.Run("failure", func(t *testing.T) {
		tn, opts := startNodes(t, 1, simulator.Healthy)
		time.AfterFunc(300*time.Millisecond, func() { _ = tn.cl.Nodes[0].SetScenario(simulator.OutOfService) })
		rep := Run(context.Background(), fast(Config{Target: target(t, tn.cl.Nodes[0]), Options: opts, Until: UntilFailure}))
		if rep.Code != finesse.NotInService || len(rep.Outages) != 1 || !rep.Outages[0].End.IsZero() {
			t.Errorf("report %+v", rep)
		}
	})
}

// A rejected login stops the watch with exit 22 and is never retried.
func TestWatchDoesNotRetryARejectedLogin(t *testing.T) {
	tn, opts := startNodes(t, 1, simulator.AuthReject)
	w := start(t, fast(Config{Target: target(t, tn.cl.Nodes[0]), Options: opts}))
	stopped := w.await(t, KindStopped)
	rep := <-w.report
	w.report <- rep
	if stopped.Code != finesse.XMPPAuthFailed || rep.Code != finesse.XMPPAuthFailed {
		t.Errorf("stopped with %d, report %d; want 22", stopped.Code, rep.Code)
	}
	if n := tn.failedLogins.Load(); n != 1 {
		t.Errorf("%d failed logins, want 1", n)
	}
}

// During an outage the alternate is checked, and its verdict reported when
// it changes: the node SystemInfo names, or the one given.
func TestWatchReportsTheAlternate(t *testing.T) {
	tn, opts := startNodes(t, 2, simulator.Healthy)
	a, b := tn.cl.Nodes[0], tn.cl.Nodes[1]
	// SystemInfo names the nodes by host name.
	opts.Resolver = nettest.DNS(t, map[string]net.IP{a.Host: net.ParseIP("127.0.0.1"), b.Host: net.ParseIP("127.0.0.2")})
	w := start(t, fast(Config{Target: target(t, a), Options: opts}))
	w.await(t, KindAvailable)
	if err := a.SetScenario(simulator.OutOfService); err != nil {
		t.Fatal(err)
	}
	alt := w.await(t, KindAlternate)
	if alt.Alternate == nil || alt.Alternate.Target.Host != b.Host || !alt.Alternate.Available() {
		t.Fatalf("alternate event %+v, want %s available", alt, b.Host)
	}
	if err := b.SetScenario(simulator.NotificationDown); err != nil {
		t.Fatal(err)
	}
	alt = w.await(t, KindAlternate)
	if alt.Alternate.Available() || alt.Alternate.ExitCode() != finesse.XMPPConnectionFailed {
		t.Errorf("alternate after it went down: exit %d", alt.Alternate.ExitCode())
	}
}

// The simulator's timeline drives a node through two outages; the summary
// has both, and the mean time to recovery is theirs.
func TestWatchSummaryOfATimeline(t *testing.T) {
	tn, opts := startNodes(t, 1, simulator.Healthy)
	node := tn.cl.Nodes[0]
	steps, err := simulator.ParseTimeline("notification-down@300ms,healthy@600ms,out-of-service@1200ms,healthy@1500ms")
	if err != nil {
		t.Fatal(err)
	}
	w := start(t, fast(Config{Target: target(t, node), Options: opts}))
	w.await(t, KindAvailable)
	if err := simulator.RunTimeline(context.Background(), steps, func(s simulator.Step) error { return node.SetScenario(s.Scenario) }, time.After); err != nil {
		t.Fatal(err)
	}
	w.await(t, KindRecovered)
	w.await(t, KindRecovered)
	rep := w.stop(t)
	if len(rep.Outages) != 2 || rep.Outages[0].Code != finesse.XMPPConnectionFailed || rep.Outages[1].Code != finesse.NotInService {
		t.Fatalf("outages %+v; events %s", rep.Outages, story(w.seen))
	}
	for _, o := range rep.Outages {
		if o.End.IsZero() {
			t.Errorf("outage %+v did not end", o)
		}
	}
	down := rep.Outages[0].End.Sub(rep.Outages[0].Start) + rep.Outages[1].End.Sub(rep.Outages[1].Start)
	if rep.MTTR() != down/2 || rep.Downtime() != down {
		t.Errorf("MTTR %v, downtime %v; want %v and %v", rep.MTTR(), rep.Downtime(), down/2, down)
	}
}

// Reconnection waits double from BackoffMin up to the poll interval, each
// drawn in its upper half.
func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		jitter float64
		want   []time.Duration
	}{
		{0, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{0.5, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second, 15 * time.Second, 15 * time.Second}},
	} {
		w := &watcher{cfg: Config{BackoffMin: time.Second, PollInterval: 20 * time.Second, Jitter: func() float64 { return tt.jitter }}}
		for n, want := range tt.want {
			if got := w.backoff(n); got != want {
				t.Errorf("jitter %v, attempt %d: %v, want %v", tt.jitter, n, got, want)
			}
		}
	}
}

// An outage is named for the earliest criterion among the scenarios it went
// through, whatever order they were seen in, and lists each of them once.
func TestOutageIsNamedForTheEarliestCriterion(t *testing.T) {
	tests := []struct {
		name  string
		codes []finesse.Code
		want  finesse.Code
		seen  string
	}{
		{"one scenario", []finesse.Code{finesse.FinesseUnavailable}, finesse.FinesseUnavailable, "[30]"},
		{"notification service restart, finesse dropped first",
			[]finesse.Code{finesse.FinesseUnavailable, finesse.XMPPConnectionFailed, finesse.FinesseUnavailable},
			finesse.XMPPConnectionFailed, "[30 20]"},
		{"connection lost, then reconnected before tomcat's finesse user",
			[]finesse.Code{finesse.XMPPConnectionFailed, finesse.FinesseUnavailable}, finesse.XMPPConnectionFailed, "[20 30]"},
		{"tomcat down", []finesse.Code{finesse.FinesseUnavailable, finesse.SystemInfoUnreachable, finesse.XMPPConnectionFailed},
			finesse.SystemInfoUnreachable, "[30 10 20]"},
		{"same criterion keeps the first", []finesse.Code{finesse.XMPPConnectionFailed, finesse.XMPPTLS}, finesse.XMPPConnectionFailed, "[20 21]"},
		{"flapping stays short", []finesse.Code{finesse.NotInService, finesse.FinesseUnavailable, finesse.NotInService, finesse.FinesseUnavailable},
			finesse.NotInService, "[12 30]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []Event
			w := &watcher{cfg: Config{Emit: func(e Event) { events = append(events, e) }}.withDefaults(), code: finesse.OK}
			for _, c := range tt.codes {
				if err := w.down(c, "test", ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.up("test", ""); err != nil {
				t.Fatal(err)
			}
			if len(w.report.Outages) != 1 {
				t.Fatalf("%d outages, want 1", len(w.report.Outages))
			}
			o := w.report.Outages[0]
			if o.Code != tt.want || fmt.Sprint(o.Seen) != tt.seen {
				t.Errorf("named %d, seen %v; want %d, %s", o.Code, o.Seen, tt.want, tt.seen)
			}
			// The events still tell each change as it came.
			if events[0].Kind != KindOutage || events[0].Code != tt.codes[0] || events[len(events)-1].Kind != KindRecovered {
				t.Errorf("events %s", story(events))
			}
		})
	}
}

// Over WebSocket, as a 12.6 desktop connects and as auto chooses first, a
// SystemInfo notification reaches the watch as over TCP: out of service
// seen by the notification, and back.
func TestWatchOverWebSocketReadsNotifications(t *testing.T) {
	tn, opts := startNodes(t, 1, simulator.Healthy)
	node := tn.cl.Nodes[0]
	opts.XMPPPort, opts.XMPPTransport = 0, check.TransportWebSocket
	w := start(t, fast(Config{Target: target(t, node), Options: opts}))
	w.await(t, KindAvailable)
	if err := node.SetScenario(simulator.OutOfService); err != nil {
		t.Fatal(err)
	}
	outage := w.await(t, KindOutage)
	if err := node.SetScenario(simulator.Healthy); err != nil {
		t.Fatal(err)
	}
	recovered := w.await(t, KindRecovered)
	w.stop(t)
	if outage.Code != finesse.NotInService || outage.Via != "notification" || recovered.Via != "notification" {
		t.Errorf("outage %+v, recovery %+v; want exit 12 seen and ended by notifications\n%s", outage, recovered, story(w.seen))
	}
}
