package check

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Transport is how a check reaches the Notification Service.
type Transport string

const (
	// TransportAuto tries what desktops use, newest first: WebSocket on the
	// HTTPS port SystemInfo answered on (12.6 and later, through the web
	// proxy), WebSocket on 7443 (12.0–12.5), then direct TLS on 5223. It
	// moves on only when a transport is plainly not there (connection
	// refused, HTTP 404), never after a timeout.
	TransportAuto      Transport = "auto"
	TransportTCP       Transport = "tcp"
	TransportWebSocket Transport = "websocket"
)

// Transports lists the choices, for flags and their validation.
var Transports = []Transport{TransportAuto, TransportTCP, TransportWebSocket}

// Route says how the Notification Service was reached, and why that way.
type Route struct {
	Why     string
	Skipped []SkippedRoute // under auto, the transports found absent before it
}

// SkippedRoute is a transport auto passed over, and what showed it absent.
type SkippedRoute struct {
	Where string // a wss:// URL or host:port
	Err   error
}

// route is one way to try.
type route struct {
	transport xmppprobe.Transport
	mode      xmppprobe.TLSMode
	port      int
	why       string
}

// xmppRoutes are the ways to reach t's Notification Service, in the order to
// try them.
func xmppRoutes(t Target, o Options) []route {
	switch o.XMPPTransport {
	case TransportTCP:
		port := o.XMPPPort
		if port == 0 {
			port = o.XMPPMode.DefaultPort()
		}
		return []route{{xmppprobe.TCP, o.XMPPMode, port, "XMPP over TCP, " + o.XMPPMode.Label() + ", as asked"}}
	case TransportWebSocket:
		port := o.XMPPPort
		if port == 0 {
			port = t.HTTPSPort
		}
		return []route{{xmppprobe.WebSocket, xmppprobe.DirectTLS, port, "XMPP over WebSocket, as asked"}}
	}
	routes := []route{{xmppprobe.WebSocket, xmppprobe.DirectTLS, t.HTTPSPort,
		"auto: WebSocket on the HTTPS port, as desktops of Finesse 12.6 and later connect"}}
	if boshPort := o.boshPort(); t.HTTPSPort != boshPort {
		routes = append(routes, route{xmppprobe.WebSocket, xmppprobe.DirectTLS, boshPort,
			fmt.Sprintf("auto: WebSocket on %d, as desktops of Finesse 12.0 to 12.5 connect", boshPort)})
	}
	port := o.XMPPPort
	if port == 0 {
		port = finesse.XMPPSecurePort
	}
	return append(routes, route{xmppprobe.TCP, xmppprobe.DirectTLS, port,
		fmt.Sprintf("auto: no WebSocket endpoint; direct TLS on %d", port)})
}

// boshPort is where the Notification Service's own HTTP endpoints are.
func (o Options) boshPort() int {
	if o.BOSHPort != 0 {
		return o.BOSHPort
	}
	return finesse.BOSHPort
}

// dialer dials the Notification Service over the first route that is there,
// in a goroutine of its own, so that the dial can overlap SystemInfo.
type dialer struct {
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{} // closed when sess, err and end are final
	sess   *xmppprobe.Session
	err    error
	end    time.Time
	handed bool // wait gave sess to the caller, who closes it

	mu    sync.Mutex
	facts xmppprobe.Facts // of the route being dialed, for a check given up on
	route Route
}

// startDial starts dialing t's Notification Service under ctx.
func startDial(ctx context.Context, t Target, o Options, trace io.Writer) *dialer {
	ctx, cancel := context.WithCancel(ctx)
	d := &dialer{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	routes := xmppRoutes(t, o)
	// The first route is set before the goroutine starts, so that current
	// always has one to report.
	d.begin(xmppprobe.New(xmppConfig(t, o, routes[0], trace)), Route{Why: routes[0].why})
	go d.run(ctx, t, o, routes, trace)
	return d
}

// begin makes sess, over route r, the session being dialed.
func (d *dialer) begin(sess *xmppprobe.Session, r Route) {
	d.sess = sess
	d.mu.Lock()
	defer d.mu.Unlock()
	d.facts, d.route = sess.Facts(), r
}

func (d *dialer) run(ctx context.Context, t Target, o Options, routes []route, trace io.Writer) {
	defer func() {
		// Outside the check's own guard, a panic here would end the
		// process: it becomes the dial's error, and the verdict an XMPP
		// failure that names the bug.
		if p := recover(); p != nil {
			d.err = fmt.Errorf("the dial panicked: %v; this is a bug in finessectl", p)
		}
		d.end = time.Now()
		close(d.done)
	}()
	var skipped []SkippedRoute
	for i, rt := range routes {
		if i > 0 {
			// A copy of skipped: the route reported must not change under
			// a reader as the loop goes on.
			d.begin(xmppprobe.New(xmppConfig(t, o, rt, trace)), Route{Why: rt.why, Skipped: slices.Clone(skipped)})
		}
		d.err = d.sess.Dial(ctx)
		// Only a transport that is plainly not there is passed over: one
		// that timed out or failed in any other way may be the very outage
		// to report.
		if d.err == nil || i == len(routes)-1 || !xmppprobe.Absent(d.err) {
			return
		}
		skipped = append(skipped, SkippedRoute{Where: d.sess.Facts().Endpoint(), Err: d.err})
	}
}

// current is the route being dialed, or dialed.
func (d *dialer) current() (xmppprobe.Facts, Route) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.facts, d.route
}

// wait hands the dialed session, open or not, and its route to the caller,
// who closes the session.
func (d *dialer) wait() (*xmppprobe.Session, Route, error) {
	<-d.done
	d.cancel() // the dial is over, and the session no longer needs its context
	d.handed = true
	_, r := d.current()
	return d.sess, r, d.err
}

// stop ends a dial whose session was not handed over, and closes it: the
// check failed before the XMPP criterion, or panicked. It does nothing on a
// nil dialer (none started) or after wait.
func (d *dialer) stop() {
	if d == nil || d.handed {
		return
	}
	d.cancel()
	<-d.done
	d.sess.Close()
}
