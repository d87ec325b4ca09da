//go:build integration

package xmppprobe

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/prosodytest"
)

// A real server takes the pipelined login as the simulator does, and offers
// the legacy session as optional, as RFC 6121 servers do, so that a whole
// check costs the flights TestFlights counts.
func TestProsodyLoginFlights(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Config{
		Domain:      domain,
		Users:       map[string]string{"finesse": "finesse-pw", "probe": "probe-pw"},
		RosterGroup: []string{"finesse", "probe"},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(srv.LogTail())
		}
	})
	trust := &tls.Config{RootCAs: srv.CA.Pool(), ServerName: "127.0.0.1"}

	// The 'finesse' user online, whose presence the probe awaits.
	ctx := ctxTimeout(t, 10*time.Second)
	finesse, err := connect(t, ctx, Config{Addr: srv.DirectTLSAddr, Domain: domain, TLS: trust})
	if err != nil {
		t.Fatal(err)
	}
	if err := finesse.Login(ctx, "finesse", "finesse-pw", "tomcat"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name              string
		cfg               Config
		dial, open, login int
	}{
		{"direct TLS", Config{Addr: srv.DirectTLSAddr}, 2, 0, 3},
		{"STARTTLS", Config{Addr: srv.StartTLSAddr, Mode: StartTLS}, 0, 3, 3},
		{"WebSocket", Config{Addr: srv.HTTPSAddr, Transport: WebSocket}, 2, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace bytes.Buffer
			tt.cfg.TLS, tt.cfg.Trace = trust, &trace
			s := New(tt.cfg)
			t.Cleanup(func() { s.Close() })
			f := countFlights(s)
			ctx := ctxTimeout(t, 10*time.Second)
			if err := s.Dial(ctx); err != nil {
				t.Fatal(err)
			}
			dial := f.count()
			if err := s.Open(ctx, domain); err != nil {
				t.Fatal(err)
			}
			open := f.count() - dial
			if err := s.Login(ctx, "probe", "probe-pw", NewResource()); err != nil {
				t.Fatalf("%v\n%s", err, trace.String())
			}
			if p, err := s.AwaitPresence(ctx, "finesse@"+domain); err != nil || !p.Available {
				t.Fatalf("presence = %+v, %v", p, err)
			}
			login := f.count() - dial - open
			if dial != tt.dial || open != tt.open || login != tt.login {
				t.Errorf("flights: Dial %d, Open %d, Login and AwaitPresence %d; want %d, %d, %d",
					dial, open, login, tt.dial, tt.open, tt.login)
			}
			// The counts are TLS 1.3's: over TLS 1.2 the client waits for
			// the server's Finished, and what follows takes a flight of its own.
			if v := s.Facts().TLSVersion; v != "TLS 1.3" {
				t.Errorf("TLS version %s", v)
			}
			if s.features.Session == nil || s.features.sessionRequired() || strings.Contains(trace.String(), sessionRequest) {
				t.Errorf("want the session feature offered as optional and no session IQ sent:\n%s", trace.String())
			}
		})
	}
}
