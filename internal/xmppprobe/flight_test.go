package xmppprobe

import (
	"context"
	"net"
	"sync"
	"testing"
)

// flights counts the probe's flights: bytes it writes after it last read
// some start one, as they are what it could only send once an answer came.
// Each is a round trip, the TCP handshake aside. They are counted on the
// probe's side of the connection, where the count depends on the probe's
// code alone: the server's side, or a proxy, would see one flight as two
// whenever TCP or TLS split it around a reply.
type flights struct {
	mu    sync.Mutex
	n     int
	heard bool // the probe read bytes since it last wrote
}

func (f *flights) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// countFlights makes s count its flights from its next Dial.
func countFlights(s *Session) *flights {
	f := &flights{heard: true} // the first write starts a flight
	dial := s.dial
	s.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &flightConn{Conn: c, f: f}, nil
	}
	return f
}

type flightConn struct {
	net.Conn
	f *flights
}

func (c *flightConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.f.mu.Lock()
		c.f.heard = true
		c.f.mu.Unlock()
	}
	return n, err
}

func (c *flightConn) Write(p []byte) (int, error) {
	c.f.mu.Lock()
	if c.f.heard {
		c.f.n++
		c.f.heard = false
	}
	c.f.mu.Unlock()
	return c.Conn.Write(p)
}

// check dials while it fetches SystemInfo (3 round trips: TCP, TLS, the
// request), which Dial's round trips fit in, then opens the stream and logs
// in: over direct TLS 3 + 1 (the header, riding in Dial's last flight, still
// waits for the features) + 3 = 7 round trips of the 8 allowed; over
// STARTTLS 3 + 3 + 3 = 9 of 10; over WebSocket 3 + 1 + 3 = 7.
//
// Before, Login and AwaitPresence took 5 flights on every transport (auth,
// restart, bind, session IQ, roster with presence), and a whole run 7 over
// direct TLS, 9 over STARTTLS and 8 over WebSocket; now 3, and 5, 6 and 6.
// Connect took then what Dial and Open take now.
func TestFlights(t *testing.T) {
	n := startSimulator(t)
	tests := []struct {
		name              string
		cfg               Config
		dial, open, login int
		before            int // the whole run's flights before
	}{
		// Dial: ClientHello, then Finished. Open's header follows the
		// Finished with nothing read in between, so it adds no flight.
		// Login: auth, then the restart with the bind request, then the
		// roster request with the initial presence.
		{"direct TLS", Config{Addr: n.DirectTLSAddr()}, 2, 0, 3, 7},
		// Dial sends nothing. Open: the header with <starttls/> (XEP-0305
		// pipelining), ClientHello, then Finished with the new header.
		{"STARTTLS", Config{Addr: n.StartTLSAddr(), Mode: StartTLS}, 0, 3, 3, 9},
		// Dial: ClientHello, then Finished with the upgrade request. Open:
		// <open/>, once the upgrade has been answered.
		{"WebSocket", Config{Addr: n.HTTPSAddr(), Transport: WebSocket}, 2, 1, 3, 8},
		// Lockstep gives back what pipelining saved: <starttls/> after the
		// features, the bind request after the restart's features.
		{"direct TLS/lockstep", Config{Addr: n.DirectTLSAddr(), Lockstep: true}, 2, 0, 4, 8},
		{"STARTTLS/lockstep", Config{Addr: n.StartTLSAddr(), Mode: StartTLS, Lockstep: true}, 0, 4, 4, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// As check runs it: Dial under a context of its own, ended once
			// Dial returned, then Open to the domain SystemInfo named.
			tt.cfg.TLS = n.trust
			s := New(tt.cfg)
			t.Cleanup(func() { s.Close() })
			f := countFlights(s)
			dialCtx, cancel := context.WithCancel(context.Background())
			err := s.Dial(dialCtx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			dial := f.count()
			ctx := ctxTimeout(t, liveWait)
			if err := s.Open(ctx, n.Host); err != nil {
				t.Fatal(err)
			}
			open := f.count() - dial
			if err := s.Login(ctx, "probe", "pw", NewResource()); err != nil {
				t.Fatal(err)
			}
			if p, err := s.AwaitPresence(ctx, "finesse@"+n.Host); err != nil || !p.Available {
				t.Fatalf("presence = %+v, %v", p, err)
			}
			login := f.count() - dial - open
			if dial != tt.dial || open != tt.open || login != tt.login {
				t.Errorf("flights: Dial %d, Open %d, Login and AwaitPresence %d; want %d, %d, %d",
					dial, open, login, tt.dial, tt.open, tt.login)
			}
			if total := f.count(); total >= tt.before && !tt.cfg.Lockstep {
				t.Errorf("%d flights in all, no fewer than the %d before", total, tt.before)
			}
			if d := s.Facts().Domain; d != n.Host {
				t.Errorf("Facts().Domain = %q, want %q, the domain given to Open", d, n.Host)
			}
		})
	}
}
