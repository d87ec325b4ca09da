package xmppprobe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/probe"
)

const (
	domain      = "finesse.test"
	header      = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='finesse.test' version='1.0'>"
	saslFeats   = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	bindFeature = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
	bindFeats   = "<stream:features>" + bindFeature + "</stream:features>"
	tlsFeats    = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	bindResult  = "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>probe@finesse.test/r</jid></bind></iq>"
	rosterBoth  = "<iq type='result' id='roster-1'><query xmlns='jabber:iq:roster'><item jid='finesse@finesse.test' subscription='both'/></query></iq>"
)

// peer is the server side of one scripted conversation. It reports nothing
// itself: when a script stops early, the client's assertions say why.
type peer struct {
	conn net.Conn
	r    *bufio.Reader
	seen bytes.Buffer
}

// expect reads until the client has sent sub, giving up after 5 s.
func (p *peer) expect(sub string) bool {
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for !strings.Contains(p.seen.String(), sub) {
		n, err := p.r.Read(buf)
		p.seen.Write(buf[:n])
		if err != nil && !strings.Contains(p.seen.String(), sub) {
			return false
		}
	}
	rest := p.seen.String()[strings.Index(p.seen.String(), sub)+len(sub):]
	p.seen.Reset()
	p.seen.WriteString(rest)
	return true
}

func (p *peer) send(s string) { _, _ = io.WriteString(p.conn, s) }

// upgrade turns the conversation into TLS, as after <proceed/>.
func (p *peer) upgrade(cfg *tls.Config) {
	c := tls.Server(p.conn, cfg)
	p.conn, p.r = c, bufio.NewReader(c)
	p.seen.Reset()
}

type fake struct {
	addr     string
	accepted atomic.Int32
	done     chan struct{}
}

// startFake serves one scripted conversation per connection; with cfg set the
// listener speaks TLS from the first byte.
func startFake(t *testing.T, cfg *tls.Config, script func(*peer)) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFake(t, ln, cfg, script)
}

func serveFake(t *testing.T, ln net.Listener, cfg *tls.Config, script func(*peer)) *fake {
	t.Helper()
	f := &fake{addr: ln.Addr().String(), done: make(chan struct{})}
	var conns []net.Conn
	go func() {
		defer close(f.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			conns = append(conns, c)
			if cfg != nil {
				c = tls.Server(c, cfg)
			}
			go script(&peer{conn: c, r: bufio.NewReader(c)})
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-f.done
		for _, c := range conns {
			c.Close()
		}
	})
	return f
}

type certs struct {
	server *tls.Config // what the fake presents
	client *tls.Config // what the probe trusts
}

func newCerts(t *testing.T, names ...string) certs {
	t.Helper()
	ca, err := pki.NewCA("probe test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(names, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return certs{
		server: &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}},
		client: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"},
	}
}

// finesseNode plays a well-behaved Notification Service up to the point where
// the probe waits for presence, then runs after.
func finesseNode(after func(*peer)) func(*peer) {
	return restarted(func(p *peer) {
		p.send(header + bindFeats)
		if !p.expect("</iq>") {
			return
		}
		p.send(bindResult)
		if p.expect("<presence>") {
			after(p)
		}
	})
}

// restarted plays a Notification Service up to the stream restart after
// SASL, then runs rest, which answers it.
func restarted(rest func(*peer)) func(*peer) {
	return func(p *peer) {
		if !p.expect("<stream:stream") {
			return
		}
		p.send(header + saslFeats)
		if !p.expect("</auth>") {
			return
		}
		p.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
		if p.expect("<stream:stream") {
			rest(p)
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// connect runs Connect on a new session and returns it even on failure, for
// its Facts; the session is closed when the test ends.
func connect(t *testing.T, ctx context.Context, cfg Config) (*Session, error) {
	t.Helper()
	s := New(cfg)
	t.Cleanup(func() { s.Close() })
	return s, s.Connect(ctx)
}

func dialLogin(t *testing.T, f *fake, c certs, mode TLSMode, trace io.Writer) (*Session, error) {
	t.Helper()
	ctx := ctxTimeout(t, 5*time.Second)
	s, err := connect(t, ctx, Config{Addr: f.addr, Domain: domain, Mode: mode, TLS: c.client, Trace: trace})
	if err != nil {
		return s, err
	}
	return s, s.Login(ctx, "probe", "s3cret-pw", "finessectl-test")
}

func phaseNames(f Facts) string {
	var names []string
	for _, tm := range f.Timings {
		names = append(names, tm.Phase)
	}
	return strings.Join(names, ",")
}

func TestPresenceOutcomes(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	tests := []struct {
		name          string
		after         func(*peer)
		wantAvailable bool
		wantErr       string
	}{
		{
			name: "available",
			after: func(p *peer) {
				p.send(rosterBoth + "<presence from='someone@finesse.test/x'/>" + "<presence from='Finesse@finesse.test/desktop'/>")
			},
			wantAvailable: true,
		},
		{
			name: "unavailable",
			after: func(p *peer) {
				p.send(rosterBoth + "<presence type='unavailable' from='finesse@finesse.test'/>")
			},
		},
		{
			name: "ping answered while waiting",
			after: func(p *peer) {
				p.send("<iq type='get' id='ping-9' from='finesse.test'><ping xmlns='urn:xmpp:ping'/></iq>")
				if p.expect("id='ping-9'") {
					p.send("<presence from='finesse@finesse.test/a'><show>away</show></presence>")
				}
			},
			wantAvailable: true,
		},
		{
			name:    "silence names the roster",
			after:   func(p *peer) { p.send("<iq type='result' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>") },
			wantErr: "not in the probe user's roster",
		},
		{
			name:    "stream closed while waiting",
			after:   func(p *peer) { p.send("</stream:stream>") },
			wantErr: ErrStreamClosed.Error(),
		},
		{
			name:    "connection dropped mid-stanza",
			after:   func(p *peer) { p.send("<message from='x'><body>cut"); p.conn.Close() },
			wantErr: "server closed the connection",
		},
		{
			name:    "connection dropped between stanzas",
			after:   func(p *peer) { p.conn.Close() },
			wantErr: "server closed the connection",
		},
		{
			name: "stream error while waiting",
			after: func(p *peer) {
				p.send("<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
			},
			wantErr: "stream error: system-shutdown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, c.server, finesseNode(tt.after))
			s, err := dialLogin(t, f, c, DirectTLS, nil)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			pres, err := s.AwaitPresence(ctxTimeout(t, 500*time.Millisecond), "finesse@finesse.test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v (presence %+v)", tt.wantErr, err, pres)
				}
				return
			}
			if err != nil {
				t.Fatalf("await presence: %v", err)
			}
			if pres.Available != tt.wantAvailable {
				t.Fatalf("available = %v, want %v", pres.Available, tt.wantAvailable)
			}
		})
	}
}

func TestNoPresenceIsTyped(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, finesseNode(func(p *peer) { p.send(rosterBoth) }))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AwaitPresence(ctxTimeout(t, 200*time.Millisecond), "finesse@finesse.test")
	var np *NoPresenceError
	if !errors.As(err, &np) {
		t.Fatalf("want NoPresenceError, got %v", err)
	}
	if !np.Roster.Listed || np.Roster.Subscription != "both" {
		t.Fatalf("roster state = %+v, want listed with subscription both", np.Roster)
	}
}

func TestStartTLS(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, nil, func(p *peer) {
		if !p.expect("<stream:stream") {
			return
		}
		p.send(header + tlsFeats)
		if !p.expect("<starttls") {
			return
		}
		p.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		p.upgrade(c.server)
		finesseNode(func(p *peer) { p.send("<presence from='finesse@finesse.test/x'/>") })(p)
	})
	s, err := dialLogin(t, f, c, StartTLS, nil)
	if err != nil {
		t.Fatalf("starttls login: %v", err)
	}
	pres, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test")
	if err != nil || !pres.Available {
		t.Fatalf("presence = %+v, %v", pres, err)
	}
	facts := s.Facts()
	if got := phaseNames(facts); got != "connect,stream,starttls,auth,restart,bind,presence" {
		t.Fatalf("phases = %s", got)
	}
	if facts.Mode != StartTLS || facts.Certificate == nil || facts.TLSVersion == "" {
		t.Fatalf("facts after STARTTLS = %+v", facts)
	}
}

func TestStartTLSNotOffered(t *testing.T) {
	f := startFake(t, nil, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + saslFeats)
		}
	})
	_, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, Mode: StartTLS, TLS: &tls.Config{}})
	if !errors.Is(err, ErrNoStartTLS) {
		t.Fatalf("want ErrNoStartTLS, got %v", err)
	}
}

func TestAuthFailureIsTypedAndNotRetried(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if !p.expect("<stream:stream") {
			return
		}
		p.send(header + saslFeats)
		if p.expect("</auth>") {
			p.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>Invalid username or password</text></failure>")
		}
	})
	_, err := dialLogin(t, f, c, DirectTLS, nil)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("want AuthError not-authorized, got %v", err)
	}
	if n := f.accepted.Load(); n != 1 {
		t.Fatalf("server saw %d connections; a failed login must not be retried", n)
	}
}

func TestNoPlainMechanismIsAnAuthFailure(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>")
		}
	})
	_, err := dialLogin(t, f, c, DirectTLS, nil)
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "SCRAM-SHA-1") {
		t.Fatalf("want AuthError naming the offered mechanisms, got %v", err)
	}
}

// The gosrc.io/xmpp Client has no negotiation deadline: a server that accepts
// and says nothing hangs it. Every phase here must end with the context.
func TestSilentServerEndsAtDeadline(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	for _, mode := range []TLSMode{DirectTLS, StartTLS} {
		t.Run(string(mode), func(t *testing.T) {
			f := startFake(t, nil, func(p *peer) { _, _ = io.Copy(io.Discard, p.conn) })
			start := time.Now()
			_, err := connect(t, ctxTimeout(t, 300*time.Millisecond), Config{Addr: f.addr, Domain: domain, Mode: mode, TLS: c.client})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a deadline error, got %v", err)
			}
			// A handshake cut by the deadline is the network's doing, not TLS's.
			var te *probe.TLSError
			if errors.As(err, &te) {
				t.Fatalf("a deadline error counts as a TLS failure: %v", err)
			}
			if waited := time.Since(start); waited > 3*time.Second {
				t.Fatalf("Connect returned after %v, long past its 300ms deadline", waited)
			}
		})
	}
}

// gosrc.io/xmpp never reports a bare </stream:stream> during negotiation and
// leaves a goroutine behind; here it is an error and nothing is left running.
func TestBareStreamCloseIsReportedWithoutLeaks(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + "</stream:stream>")
		}
	})
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		s := New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
		err := s.Connect(ctxTimeout(t, 5*time.Second))
		s.Close()
		if !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("want ErrStreamClosed, got %v", err)
		}
	}
	// gosrc.io/xmpp's StreamManager would reconnect here; the probe never does.
	if n := f.accepted.Load(); n != 20 {
		t.Fatalf("server saw %d connections for 20 dials", n)
	}
	// The fake's own per-connection goroutines finish by themselves; allow
	// them a moment, then require the count back near where it was.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines grew from %d to %d over 20 failed dials", before, after)
	}
}

func TestStreamErrorDuringNegotiation(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\u009b31mno\u009b0m</text></stream:error>")
		}
	})
	_, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, TLS: c.client})
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "host-unknown" {
		t.Fatalf("want StreamError host-unknown, got %v", err)
	}
	if strings.ContainsRune(err.Error(), '\u009b') {
		t.Fatalf("error message carries a terminal escape from the server: %q", err.Error())
	}
	// The edge decides how to show the server's text; the field keeps it.
	if !strings.ContainsRune(se.Text, '\u009b') {
		t.Fatalf("StreamError.Text = %q, want the server's raw text", se.Text)
	}
}

// What comes instead of the features is named, and so is its namespace when
// it is none of XMPP's, sanitized: it may tell what answered.
func TestNoFeaturesAfterTheHeader(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	tests := map[string]string{
		"<iq type='get' id='x'/>":           "stream: expected <stream:features>, got <iq>",
		"<evil xmlns='urn:\u202ex\u009b'/>": `stream: expected <stream:features>, got <evil> of unknown namespace urn:\u202ex\u009b`,
	}
	for reply, want := range tests {
		f := startFake(t, c.server, func(p *peer) {
			if p.expect("<stream:stream") {
				p.send(header + reply)
			}
		})
		_, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, TLS: c.client})
		if err == nil || err.Error() != want {
			t.Errorf("Connect = %v, want %s", err, want)
		}
	}
}

func TestHugeServerOutputIsCut(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if !p.expect("<stream:stream") {
			return
		}
		p.send(header + "<stream:features><x xmlns='urn:x' a='")
		chunk := strings.Repeat("A", 64<<10)
		for i := 0; i < 200; i++ {
			if _, err := io.WriteString(p.conn, chunk); err != nil {
				return
			}
		}
	})
	_, err := connect(t, ctxTimeout(t, 10*time.Second), Config{Addr: f.addr, Domain: domain, TLS: c.client, MaxBytes: 1 << 20})
	if !errors.Is(err, ErrTooMuchData) {
		t.Fatalf("want ErrTooMuchData, got %v", err)
	}
}

// TLS failures must keep their type so that callers can tell a certificate
// problem from a network one; gosrc.io/xmpp turns them into strings.
func TestTLSErrorsKeepTheirType(t *testing.T) {
	good := newCerts(t, "127.0.0.1")
	other := newCerts(t, "127.0.0.1")
	misnamed := newCerts(t, "elsewhere.example.test")
	tests := []struct {
		name   string
		server *tls.Config
		check  func(error) bool
	}{
		{"unknown authority", other.server, func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"wrong name", nil, func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := tt.server, good.client
			if server == nil {
				server = misnamed.server
				client = &tls.Config{RootCAs: misnamed.client.RootCAs, ServerName: "127.0.0.1"}
			}
			f := startFake(t, server, func(p *peer) { _ = p.conn.(*tls.Conn).Handshake() })
			s, err := connect(t, ctxTimeout(t, 5*time.Second), Config{Addr: f.addr, Domain: domain, TLS: client})
			var pe *PhaseError
			var te *probe.TLSError
			if !errors.As(err, &pe) || pe.Phase != PhaseTLS || !errors.As(err, &te) || !tt.check(err) {
				t.Fatalf("want a typed TLS error in phase tls, got %#v (%v)", err, err)
			}
			// The certificate that failed is what the operator needs to see.
			facts := s.Facts()
			if facts.Certificate == nil || phaseNames(facts) != "connect" {
				t.Fatalf("facts after a verification failure = %+v", facts)
			}
		})
	}
}

// gosrc.io/xmpp's StreamLogger writes the SASL PLAIN payload, the password in
// base64. The trace here must show neither form.
func TestTraceRedactsCredentials(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, finesseNode(func(p *peer) { p.send("<presence from='finesse@finesse.test/x'/>") }))
	var trace bytes.Buffer
	s, err := dialLogin(t, f, c, DirectTLS, &trace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); err != nil {
		t.Fatal(err)
	}
	got := trace.String()
	secret := base64.StdEncoding.EncodeToString([]byte("\x00probe\x00s3cret-pw"))
	if strings.Contains(got, "s3cret-pw") || strings.Contains(got, secret) {
		t.Fatalf("trace leaks the password:\n%s", got)
	}
	for _, want := range []string{"C: <auth", "[redacted]", "S: <success", "finesse@finesse.test"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
}

// gosrc.io/xmpp's Close waits ConnectTimeout for the server's </stream:stream>.
// Here Close must not depend on the server answering at all.
func TestCloseDoesNotWaitForServer(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, finesseNode(func(p *peer) {
		p.expect("</stream:stream>")
		time.Sleep(10 * time.Second) // never closes its side
	}))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = s.Close()
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("Close took %v", waited)
	}
}

func TestResourcesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		r := NewResource()
		if !strings.HasPrefix(r, "finessectl-") || seen[r] {
			t.Fatalf("resource %q is not a fresh finessectl- resource", r)
		}
		seen[r] = true
	}
}
