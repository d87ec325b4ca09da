package check

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nettest"
)

// notificationService accepts TLS on 127.0.0.1 and reports, for each
// connection, how many bytes the client sent after the handshake. accepted
// is closed at the first handshake.
type notificationService struct {
	port     int
	accepted chan struct{}
	sent     chan int64
	conns    atomic.Int32
}

func newNotificationService(t *testing.T, p testPKI) *notificationService {
	ns := &notificationService{accepted: make(chan struct{}), sent: make(chan int64, 8)}
	addr := nettest.TLS(t, &tls.Config{Certificates: []tls.Certificate{p.leaf}}, func(c *tls.Conn) {
		if c.Handshake() != nil {
			return
		}
		if ns.conns.Add(1) == 1 {
			close(ns.accepted)
		}
		n, _ := io.Copy(io.Discard, c)
		ns.sent <- n
	})
	ns.port = portOf(addr)
	return ns
}

// slowSystemInfo answers SystemInfo with status only once ns accepted a
// connection, or after wait: a dial that overlaps SystemInfo is seen before
// the answer.
func slowSystemInfo(t *testing.T, p testPKI, ns *notificationService, wait time.Duration, status int, body string) Target {
	t.Helper()
	return httpsTarget(t, p, func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ns.accepted:
		case <-time.After(wait):
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// The connection to the Notification Service is dialed while SystemInfo is
// in flight, but a SystemInfo failure closes it before any XMPP was sent:
// the server sees a TLS handshake and then the end of the stream.
func TestOverlappedDialSendsNothingWhenSystemInfoFails(t *testing.T) {
	p := newTestPKI(t)
	ns := newNotificationService(t, p)
	// The SystemInfo server holds its answer until the dial arrived, for
	// up to a deadline long enough to mean it never will.
	tg := slowSystemInfo(t, p, ns, 5*time.Second, http.StatusServiceUnavailable, "")
	opts := Options{XMPPTransport: TransportTCP, XMPPPort: ns.port, TLS: p.clientTLS(), User: "probe", Password: "pw"}
	r := Run(context.Background(), []Target{tg}, opts)
	s := r.Servers[0]
	if s.Failure == nil || s.Failure.Criterion != finesse.CriterionSystemInfo {
		t.Fatalf("want a SystemInfo failure, got %+v", s.Failure)
	}
	if s.Checks[0].Duration >= 5*time.Second {
		t.Fatalf("SystemInfo waited out its server's fallback (%v): the dial did not overlap it", s.Checks[0].Duration)
	}
	select {
	case n := <-ns.sent:
		if n != 0 {
			t.Fatalf("the client sent %d bytes over the Notification Service's TLS before SystemInfo passed", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the overlapped connection was left open after SystemInfo failed")
	}
	if s.XMPP != nil || s.Checks[1].Status != Skipped {
		t.Errorf("the XMPP criterion is reported (%+v, %v), though SystemInfo failed", s.XMPP, s.Checks[1].Status)
	}
}

// Sequential keeps to the guide's order on the wire too: nothing is dialed
// until SystemInfo passed.
func TestSequentialDialsNothingBeforeSystemInfo(t *testing.T) {
	p := newTestPKI(t)
	ns := newNotificationService(t, p)
	tg := slowSystemInfo(t, p, ns, 300*time.Millisecond, http.StatusServiceUnavailable, "")
	opts := Options{XMPPTransport: TransportTCP, XMPPPort: ns.port, TLS: p.clientTLS(), User: "probe", Password: "pw", Sequential: true}
	r := Run(context.Background(), []Target{tg}, opts)
	if f := r.Servers[0].Failure; f == nil || f.Criterion != finesse.CriterionSystemInfo {
		t.Fatalf("want a SystemInfo failure, got %+v", f)
	}
	if n := ns.conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the Notification Service before SystemInfo passed", n)
	}
}

// The criterion's time covers every phase it lists, even those that ran
// while SystemInfo was fetched.
func TestOverlappedCriterionCoversItsPhases(t *testing.T) {
	c, opts := startSimulator(t, 1, "", "probe")
	tg := nodeTarget(t, c.Nodes[0])
	r := Run(context.Background(), []Target{tg}, opts)
	s := r.Servers[0]
	if s.Failure != nil {
		t.Fatal(s.Failure)
	}
	var sum time.Duration
	for _, ph := range s.Checks[1].Phases {
		sum += ph.Duration
	}
	if s.Checks[1].Duration < sum {
		t.Errorf("xmpp took %v but its phases %v", s.Checks[1].Duration, sum)
	}
}

// A dial that failed while SystemInfo was still fetched is timed by its own
// work, not by the wait for SystemInfo, and still reports the domain the
// stream was for.
func TestFailedOverlappedDialIsTimedAndNamed(t *testing.T) {
	p := newTestPKI(t)
	ns := newNotificationService(t, p) // never dialed: SystemInfo waits it out
	const wait = 300 * time.Millisecond
	tg := slowSystemInfo(t, p, ns, wait, http.StatusOK, inService)
	opts := Options{XMPPTransport: TransportTCP, XMPPPort: closedPort(t), TLS: p.clientTLS(), User: "probe", Password: "pw"}
	s := Run(context.Background(), []Target{tg}, opts).Servers[0]
	if s.Failure == nil || s.Failure.Code != finesse.XMPPConnectionFailed {
		t.Fatalf("want exit 20, got %+v", s.Failure)
	}
	if d := s.Checks[1].Duration; d >= wait {
		t.Errorf("the refused dial is timed %v, the wait for SystemInfo (%v) included", d, wait)
	}
	if s.XMPP == nil || s.XMPP.Domain != "finesse.test" {
		t.Errorf("XMPP facts %+v, want the domain finesse.test", s.XMPP)
	}
}

// Sequential also stops the probe's pipelining: the escape hatch for a
// server that mishandles either.
func TestSequentialIsLockstep(t *testing.T) {
	tg, err := ParseTarget("finesse-a.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, sequential := range []bool{false, true} {
		o := Options{Sequential: sequential}.withDefaults()
		for _, rt := range xmppRoutes(tg, o) {
			if cfg := xmppConfig(tg, o, rt, nil); cfg.Lockstep != sequential {
				t.Errorf("Sequential %v: route %v gets Lockstep %v", sequential, rt, cfg.Lockstep)
			}
		}
	}
}
