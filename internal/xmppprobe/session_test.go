package xmppprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/probe"
)

func TestFactsOfAHealthyLogin(t *testing.T) {
	c := newCerts(t, "127.0.0.1", "finesse-a.example.test")
	f := startFake(t, c.server, finesseNode(func(p *peer) { p.send(rosterBoth + "<presence from='finesse@finesse.test/x'/>") }))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	facts := s.Facts()
	if facts.Addr != f.addr || facts.Mode != DirectTLS || facts.Domain != domain {
		t.Errorf("facts name %s %s %s, want %s direct %s", facts.Addr, facts.Mode, facts.Domain, f.addr, domain)
	}
	if cert := facts.Certificate; cert == nil || !slices.Contains(cert.DNSNames, "finesse-a.example.test") ||
		!strings.Contains(cert.Subject, "127.0.0.1") {
		t.Errorf("certificate = %+v, want the test leaf", facts.Certificate)
	}
	if facts.TLSVersion == "" || facts.JID != "probe@finesse.test/r" {
		t.Errorf("TLS version %q, JID %q", facts.TLSVersion, facts.JID)
	}
	if got := phaseNames(facts); got != "connect,tls,stream,auth,restart,bind" {
		t.Errorf("phases after login = %s", got)
	}
	if _, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); err != nil {
		t.Fatal(err)
	}
	if got := phaseNames(s.Facts()); got != "connect,tls,stream,auth,restart,bind,presence" {
		t.Errorf("phases after presence = %s", got)
	}
}

// SASL <success/> followed by silence is the Notification Service failing,
// not its authentication backend: the phase must tell the two apart.
func TestLoginPhaseAtDeadline(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	tests := []struct {
		name  string
		after func(*peer) // once the client sent <auth>
		want  Phase
	}{
		{"authentication backend stuck", func(*peer) {}, PhaseAuth},
		{"silence after success", func(p *peer) {
			p.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
		}, PhaseRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, c.server, func(p *peer) {
				if !p.expect("<stream:stream") {
					return
				}
				p.send(header + saslFeats)
				if !p.expect("</auth>") {
					return
				}
				tt.after(p)
				p.expect("never sent")
			})
			s, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, TLS: c.client})
			if err != nil {
				t.Fatal(err)
			}
			const wait = 300 * time.Millisecond
			start := time.Now()
			err = s.Login(ctxTimeout(t, wait), "probe", "s3cret-pw", "r")
			waited := time.Since(start)
			var pe *PhaseError
			if !errors.As(err, &pe) || pe.Phase != tt.want || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Login = %v, want a deadline error in phase %s", err, tt.want)
			}
			if waited < wait || waited > wait+time.Second {
				t.Fatalf("Login returned after %v, want at its %v deadline", waited, wait)
			}
			if s.Facts().JID != "" {
				t.Fatalf("JID %q bound by a failed login", s.Facts().JID)
			}
		})
	}
}

// A server that cannot speak our TLS is a TLS failure (21), not a network
// one (20), in both modes.
func TestTLSProtocolFailuresAreTLSErrors(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	old := c.server.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	handshake := func(p *peer) { _ = p.conn.(*tls.Conn).Handshake() }
	tests := []struct {
		name   string
		mode   TLSMode
		server *tls.Config // TLS from the first byte when set
		script func(*peer)
		phase  Phase
	}{
		{"direct, server refuses TLS 1.2", DirectTLS, old, handshake, PhaseTLS},
		{"direct, server speaks plaintext", DirectTLS, nil, func(p *peer) {
			if _, err := p.r.ReadByte(); err == nil {
				p.send(header + saslFeats)
			}
		}, PhaseTLS},
		{"starttls, server refuses TLS 1.2", StartTLS, nil, func(p *peer) {
			if !p.expect("<stream:stream") {
				return
			}
			p.send(header + tlsFeats)
			if p.expect("<starttls") {
				p.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
				p.upgrade(old)
				handshake(p)
			}
		}, PhaseStartTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.server, tt.script)
			s, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, Mode: tt.mode, TLS: c.client})
			var pe *PhaseError
			var te *probe.TLSError
			if !errors.As(err, &pe) || pe.Phase != tt.phase || !errors.As(err, &te) {
				t.Fatalf("want a *probe.TLSError in phase %s, got %#v (%v)", tt.phase, err, err)
			}
			if facts := s.Facts(); facts.Certificate != nil || facts.TLSVersion != "" {
				t.Fatalf("facts after a failed negotiation = %+v", facts)
			}
		})
	}
}

// The edge renders server text; the probe hands it over as the server sent
// it, with the roster beside the presence.
func TestPresenceIsRawAndCarriesTheRoster(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, finesseNode(func(p *peer) {
		p.send(rosterBoth + "<presence from='finesse@finesse.test/x'><show>away</show><status>\u202eback soon</status></presence>" +
			"<presence type='unavailable' from='finesse@finesse.test/x'/>")
	}))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RosterState{Received: true, Listed: true, Subscription: "both"}
	pres, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test")
	if err != nil || !pres.Available || pres.Show != "away" || pres.Status != "\u202eback soon" || pres.Roster != want {
		t.Fatalf("presence = %+v, %v", pres, err)
	}
	// The roster arrived during the first wait; the next one still knows it.
	pres, err = s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test")
	if err != nil || pres.Available || pres.Roster != want {
		t.Fatalf("second presence = %+v, %v", pres, err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: Connect is refused

	s := New(Config{Addr: addr, Domain: domain})
	if err := s.Close(); err != nil {
		t.Errorf("Close before Connect = %v", err)
	}
	if err := s.Login(ctxTimeout(t, time.Second), "probe", "pw", "r"); !errors.Is(err, errNoStream) {
		t.Errorf("Login before Connect = %v, want errNoStream", err)
	}
	if facts := s.Facts(); facts.Addr != addr || facts.Mode != DirectTLS || facts.Domain != domain || facts.Timings != nil {
		t.Errorf("facts before Connect = %+v", facts)
	}
	var pe *PhaseError
	if err := s.Connect(ctxTimeout(t, time.Second)); !errors.As(err, &pe) || pe.Phase != PhaseConnect {
		t.Fatalf("Connect to a closed port = %v, want a connect-phase error", err)
	}

	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + "</stream:stream>")
		}
	})
	s = New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
	if err := s.Connect(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Connect = %v, want ErrStreamClosed", err)
	}
	if err := s.Connect(ctxTimeout(t, 5*time.Second)); err == nil {
		t.Error("a second Connect on one session succeeded")
	}
	if _, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); !errors.Is(err, errNoStream) {
		t.Errorf("AwaitPresence after a failed Connect = %v, want errNoStream", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d after a failed Connect = %v", i+1, err)
		}
	}
	if got := phaseNames(s.Facts()); got != "connect,tls" {
		t.Errorf("phases = %s, want connect,tls", got)
	}
}
