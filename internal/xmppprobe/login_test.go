package xmppprobe

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	sessionRequired = "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>"
	sessionOptional = "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
	sessionRequest  = "C: <iq type='set' id='session-1'>"
)

// withFeatures is finesseNode with other features after the restart.
func withFeatures(feats string, afterBind func(*peer) bool, after func(*peer)) func(*peer) {
	return restarted(func(p *peer) {
		p.send(header + "<stream:features>" + feats + "</stream:features>")
		if !p.expect("</iq>") {
			return
		}
		p.send(bindResult)
		if afterBind(p) && p.expect("<presence>") {
			after(p)
		}
	})
}

// The legacy session IQ costs a round trip: it goes only to a server that
// requires it (RFC 3921), which must still get it before anything else.
func TestSessionIQ(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	answer := func(reply string) func(*peer) bool {
		return func(p *peer) bool {
			if !p.expect("id='session-1'") {
				return false
			}
			p.send(reply)
			return true
		}
	}
	none := func(*peer) bool { return true }
	available := func(p *peer) { p.send("<presence from='finesse@finesse.test/x'/>") }
	tests := []struct {
		name      string
		features  string
		afterBind func(*peer) bool
		wantSent  bool
		wantErr   string
	}{
		{"required", bindFeature + sessionRequired, answer("<iq type='result' id='session-1'/>"), true, ""},
		{"required and refused", bindFeature + sessionRequired,
			answer("<iq type='error' id='session-1'><error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"),
			true, "session establishment refused: internal-server-error"},
		{"optional", bindFeature + sessionOptional, none, false, ""},
		{"absent", bindFeature, none, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, c.server, withFeatures(tt.features, tt.afterBind, available))
			var trace bytes.Buffer
			s, err := dialLogin(t, f, c, DirectTLS, &trace)
			if tt.wantErr != "" {
				var pe *PhaseError
				if !errors.As(err, &pe) || pe.Phase != PhaseBind || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Login = %v, want a bind-phase error holding %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login = %v", err)
			}
			if sent := strings.Contains(trace.String(), sessionRequest); sent != tt.wantSent {
				t.Fatalf("session IQ sent = %v, want %v:\n%s", sent, tt.wantSent, trace.String())
			}
			// A required session comes before the roster and the presence,
			// which wait for its result.
			got := trace.String()
			if result := strings.Index(got, "S: <iq type='result' id='session-1'"); tt.wantSent &&
				(result < 0 || result > strings.Index(got, "C: <iq type='get' id='roster-1'")) {
				t.Fatalf("the roster request did not wait for the session result:\n%s", got)
			}
			if p, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); err != nil || !p.Available {
				t.Fatalf("presence = %+v, %v", p, err)
			}
		})
	}
}

// The stream restart and the bind request go out together, so the server
// may answer them together, or as they come; a bind that fails fails as it
// did when the request waited for the features.
func TestPipelinedRestartAndBind(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	available := func(p *peer) {
		if p.expect("<presence>") {
			p.send("<presence from='finesse@finesse.test/x'/>")
		}
	}
	tests := []struct {
		name    string
		rest    func(*peer) // from the probe's restart on
		wantErr string      // in the bind phase; "" for a login
	}{
		// The server says nothing until it has the bind request: a probe
		// that waited for the features would wait forever.
		{"features and bind result in one write", func(p *peer) {
			if p.expect("</iq>") {
				p.send(header + bindFeats + bindResult)
				available(p)
			}
		}, ""},
		{"header, features and bind result apart", func(p *peer) {
			p.send(header)
			p.send(bindFeats)
			if p.expect("</iq>") {
				p.send(bindResult)
				available(p)
			}
		}, ""},
		{"bind refused", func(p *peer) {
			p.send(header + bindFeats)
			if p.expect("</iq>") {
				p.send("<iq type='error' id='bind-1'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
			}
		}, "resource binding refused: not-allowed"},
		// Not answered at all: the probe must not wait for an answer.
		{"bind not offered", func(p *peer) {
			p.send(header + "<stream:features/>")
			p.expect("never sent")
		}, "resource binding refused: the server does not offer it"},
		{"stream error instead of the bind result", func(p *peer) {
			p.send(header + bindFeats)
			if p.expect("</iq>") {
				p.send("<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
			}
		}, "stream error: internal-server-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, c.server, restarted(tt.rest))
			s, err := dialLogin(t, f, c, DirectTLS, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Login = %v", err)
				}
				if p, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); err != nil || !p.Available {
					t.Fatalf("presence = %+v, %v", p, err)
				}
				return
			}
			var pe *PhaseError
			var ae *AuthError
			if !errors.As(err, &pe) || pe.Phase != PhaseBind || errors.As(err, &ae) ||
				errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Login = %v, want a bind-phase error holding %q", err, tt.wantErr)
			}
			if got := phaseNames(s.Facts()); got != "connect,tls,stream,auth,restart" || s.Facts().JID != "" {
				t.Fatalf("phases %s, JID %q after a failed bind", got, s.Facts().JID)
			}
		})
	}
}
