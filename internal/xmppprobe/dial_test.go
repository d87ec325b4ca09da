package xmppprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/probe"
)

// Dial says nothing in XMPP: check dials before it knows the domain, or
// whether the node is worth logging into, and may close again. A session
// that was only dialed closes without a word.
func TestDialSendsNoXMPP(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	tests := []struct {
		name   string
		serve  func(t *testing.T, heard chan<- string) Config // heard gets what the server read
		phases string
	}{
		{"direct TLS", func(t *testing.T, heard chan<- string) Config {
			f := startFake(t, c.server, func(p *peer) {
				if err := p.conn.(*tls.Conn).Handshake(); err != nil {
					heard <- "no handshake: " + err.Error()
					return
				}
				b, _ := io.ReadAll(p.conn)
				heard <- string(b)
			})
			return Config{Addr: f.addr}
		}, "connect,tls"},
		{"STARTTLS", func(t *testing.T, heard chan<- string) Config {
			f := startFake(t, nil, func(p *peer) {
				b, _ := io.ReadAll(p.conn)
				heard <- string(b)
			})
			return Config{Addr: f.addr, Mode: StartTLS}
		}, "connect"},
		{"WebSocket", func(t *testing.T, heard chan<- string) Config {
			addr := startWS(t, c, []string{"xmpp"}, func(p *wsPeer) {
				_, msg, _ := p.c.ReadMessage()
				heard <- string(msg)
			}, nil)
			return Config{Addr: addr, Transport: WebSocket}
		}, "connect,tls,websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			heard := make(chan string, 1)
			cfg := tt.serve(t, heard)
			cfg.Domain, cfg.TLS = domain, c.client
			s := New(cfg)
			if err := s.Dial(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if got := phaseNames(s.Facts()); got != tt.phases {
				t.Errorf("phases after Dial = %s, want %s", got, tt.phases)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-heard:
				if got != "" {
					t.Fatalf("the server heard %q from a session that was only dialed", got)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not see the connection end")
			}
		})
	}
}

// Open needs a Dial that succeeded, each runs once, and Login and
// AwaitPresence need the stream Open opens. Misuse is an error, not a
// panic, and leaves a usable session usable.
func TestDialOpenLifecycle(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Second)
	s := New(Config{Addr: nettest.Refused(t), Domain: domain})
	if err := s.Open(ctx, ""); !errors.Is(err, errNotConnected) {
		t.Errorf("Open before Dial = %v, want errNotConnected", err)
	}
	var pe *PhaseError
	if err := s.Dial(ctx); !errors.As(err, &pe) || pe.Phase != PhaseConnect || !Absent(err) {
		t.Fatalf("Dial to a closed port = %v, want a connect-phase absence", err)
	}
	if err := s.Open(ctx, ""); !errors.Is(err, errNotConnected) {
		t.Errorf("Open after a failed Dial = %v, want errNotConnected", err)
	}
	if err := s.Dial(ctx); err == nil {
		t.Error("a second Dial after a failed one succeeded")
	}

	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, finesseNode(func(p *peer) { p.send("<presence from='finesse@finesse.test/x'/>") }))
	s = New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
	t.Cleanup(func() { s.Close() })
	if err := s.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Dial(ctx); err == nil {
		t.Error("a second Dial succeeded")
	}
	if err := s.Login(ctx, "probe", "pw", "r"); !errors.Is(err, errNoStream) {
		t.Errorf("Login before Open = %v, want errNoStream", err)
	}
	if _, err := s.AwaitPresence(ctx, "finesse@finesse.test"); !errors.Is(err, errNoStream) {
		t.Errorf("AwaitPresence before Open = %v, want errNoStream", err)
	}
	if err := s.Open(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, ""); err == nil {
		t.Error("a second Open succeeded")
	}
	if err := s.Login(ctx, "probe", "pw", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AwaitPresence(ctx, "finesse@finesse.test"); err != nil {
		t.Fatal(err)
	}
	if got := phaseNames(s.Facts()); got != "connect,tls,stream,auth,restart,bind,presence" {
		t.Errorf("phases = %s", got)
	}
}

// Dial and Open each end with their own context, and only while they run:
// check dials under one context and opens under another.
func TestDialAndOpenHaveTheirOwnContexts(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	// cancelOn returns a context that ends once the server heard the probe.
	cancelOn := func(t *testing.T, heard <-chan struct{}) context.Context {
		ctx, cancel := context.WithCancel(ctxTimeout(t, 5*time.Second))
		go func() {
			<-heard
			cancel()
		}()
		return ctx
	}

	t.Run("Dial ends with its context", func(t *testing.T) {
		heard := make(chan struct{})
		f := startFake(t, nil, func(p *peer) {
			if _, err := p.r.ReadByte(); err == nil { // the ClientHello, never answered
				close(heard)
				_, _ = io.Copy(io.Discard, p.r)
			}
		})
		s := New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
		err := s.Dial(cancelOn(t, heard))
		var pe *PhaseError
		var te *probe.TLSError
		if !errors.As(err, &pe) || pe.Phase != PhaseTLS || errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want the end of its context in phase tls", err)
		}
	})

	t.Run("Open ends with its context", func(t *testing.T) {
		heard := make(chan struct{})
		f := startFake(t, c.server, func(p *peer) {
			if p.expect("<stream:stream") { // never answered
				close(heard)
				p.expect("never sent")
			}
		})
		s := New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
		if err := s.Dial(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		err := s.Open(cancelOn(t, heard), "")
		var pe *PhaseError
		if !errors.As(err, &pe) || pe.Phase != PhaseStream || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open = %v, want the end of its context in phase stream", err)
		}
		if err := s.Login(ctxTimeout(t, time.Second), "probe", "pw", "r"); !errors.Is(err, errNoStream) {
			t.Errorf("Login after a failed Open = %v, want errNoStream", err)
		}
	})

	t.Run("Dial's context ending later cuts nothing", func(t *testing.T) {
		f := startFake(t, c.server, finesseNode(func(p *peer) { p.send("<presence from='finesse@finesse.test/x'/>") }))
		s := New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
		t.Cleanup(func() { s.Close() })
		dialCtx, cancel := context.WithCancel(context.Background())
		err := s.Dial(dialCtx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxTimeout(t, 5*time.Second)
		if err := s.Open(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Login(ctx, "probe", "pw", "r"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.AwaitPresence(ctx, "finesse@finesse.test"); err != nil || !p.Available {
			t.Fatalf("presence = %+v, %v", p, err)
		}
	})
}
