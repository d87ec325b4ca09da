package xmppprobe

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/xmltext"
)

const (
	wsOpen      = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='finesse.test' id='w1' version='1.0' xml:lang='en'/>"
	wsSASLFeats = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	wsBindFeats = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
)

// wsPeer is the server side of one scripted RFC 7395 conversation.
type wsPeer struct {
	t *testing.T
	c *websocket.Conn
}

// expect reads one message, which must be a complete element holding sub.
func (p *wsPeer) expect(sub string) bool {
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := p.c.ReadMessage()
	if err != nil {
		return false
	}
	if err := oneElement(msg); err != nil {
		p.t.Errorf("client message %q is not one complete element: %v", msg, err)
	}
	if !strings.Contains(string(msg), sub) {
		p.t.Errorf("client sent %q, want it to hold %q", msg, sub)
		return false
	}
	return true
}

func (p *wsPeer) send(msgs ...string) {
	for _, m := range msgs {
		_ = p.c.WriteMessage(websocket.TextMessage, []byte(m))
	}
}

// oneElement parses msg alone, as a server of RFC 7395 does each message.
func oneElement(msg []byte) error {
	d := xml.NewDecoder(strings.NewReader(string(msg)))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 || roots != 1 {
				return errors.New("not exactly one element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if v.Name.Local == "iq" || v.Name.Local == "presence" {
					if v.Name.Space != "jabber:client" {
						return errors.New("stanza not qualified by jabber:client")
					}
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// startWS serves script on every upgrade to path, over TLS from c; other
// requests get handler's answer, 404 when nil.
func startWS(t *testing.T, c certs, protocols []string, script func(*wsPeer), handler http.HandlerFunc) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: protocols, CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws/" || handler != nil {
			if handler == nil {
				http.NotFound(w, r)
				return
			}
			handler(w, r)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		script(&wsPeer{t: t, c: conn})
	}))
	srv.TLS = c.server
	// The handshake failures some tests cause on purpose are not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func wsConfig(addr string, c certs) Config {
	return Config{Addr: addr, Domain: domain, Transport: WebSocket, TLS: c.client}
}

// wsServeUntilBind is a server's side of a login up to the bind request:
// the stream, opened with a message holding open, SASL PLAIN accepted, the
// restart with the bind request. False when the client sent something else.
func wsServeUntilBind(p *wsPeer, open string) bool {
	if !p.expect(open) {
		return false
	}
	p.send(wsOpen, wsSASLFeats)
	if !p.expect("mechanism='PLAIN'") {
		return false
	}
	p.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	// The bind request comes with the restart, before the features.
	return p.expect("<open") && p.expect("<bind")
}

// wsServeBindAndPresence answers the bind, then the roster request and the
// initial presence with the 'finesse' user's presence. False when the
// client sent something else.
func wsServeBindAndPresence(p *wsPeer) bool {
	p.send(wsOpen, wsBindFeats,
		"<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>probe@finesse.test/r</jid></bind></iq>")
	if !p.expect("jabber:iq:roster") || !p.expect("<priority>0</priority>") {
		return false
	}
	// No namespace on these two: the stream's default applies.
	p.send("<iq type='result' id='roster-1'><query xmlns='jabber:iq:roster'><item jid='finesse@finesse.test' subscription='both'/></query></iq>",
		"<presence from='finesse@finesse.test/finesse'/>")
	return true
}

// The probe speaks RFC 7395: each message one element, stanzas qualified,
// <open/> for every stream start, the server's stanzas read whether or not
// they carry the namespace, and <close/> at the end.
func TestWebSocketLoginAndPresence(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	closed := make(chan bool, 1)
	addr := startWS(t, c, []string{"xmpp"}, func(p *wsPeer) {
		if !wsServeUntilBind(p, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='finesse.test' version='1.0'/>") || !wsServeBindAndPresence(p) {
			return
		}
		closed <- p.expect("type='unavailable'") && p.expect("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	}, nil)

	ctx := ctxTimeout(t, 5*time.Second)
	s, err := connect(t, ctx, wsConfig(addr, c))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "probe", "pw", "r"); err != nil {
		t.Fatal(err)
	}
	pres, err := s.AwaitPresence(ctx, "finesse@finesse.test")
	if err != nil || !pres.Available {
		t.Fatalf("presence %+v, %v", pres, err)
	}
	f := s.Facts()
	if got := phaseNames(f); got != "connect,tls,websocket,stream,auth,restart,bind,presence" {
		t.Errorf("phases %s", got)
	}
	if f.Transport != WebSocket || f.URL != "wss://"+addr+"/ws/" || f.Certificate == nil || f.JID != "probe@finesse.test/r" {
		t.Errorf("facts %+v", f)
	}
	s.Close()
	select {
	case ok := <-closed:
		if !ok {
			t.Error("no unavailable presence and <close/> on Close")
		}
	case <-time.After(5 * time.Second):
		t.Error("the server saw nothing after Close")
	}
}

// What the upgrade can meet, and which of it means "nothing serves
// WebSocket here" (so auto may try the next transport). It is all Dial's to
// report: check dials every route before it has a domain to open a stream to.
func TestWebSocketUpgradeFailures(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	hugeHeaders := func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
		for range 20000 {
			_, _ = buf.WriteString("X-Filler: 0123456789012345678901234567890123456789\r\n")
		}
		_ = buf.Flush()
	}
	silent := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name   string
		addr   func() string
		phase  Phase
		absent bool
		want   string
	}{
		{"no /ws/ (a 12.5 node's 8445)", func() string { return startWS(t, c, []string{"xmpp"}, nil, status(404)) }, PhaseUpgrade, true, "HTTP 404"},
		{"proxy up, Notification Service down", func() string { return startWS(t, c, []string{"xmpp"}, nil, status(502)) }, PhaseUpgrade, false, "HTTP 502"},
		{"connection refused", func() string { return nettest.Refused(t) }, PhaseConnect, true, "refused"},
		{"silent", func() string { return startWS(t, c, []string{"xmpp"}, nil, silent) }, PhaseUpgrade, false, "deadline"},
		{"endless headers", func() string { return startWS(t, c, []string{"xmpp"}, nil, hugeHeaders) }, PhaseUpgrade, false, ErrTooMuchData.Error()},
		{"no xmpp subprotocol", func() string { return startWS(t, c, nil, func(*wsPeer) {}, nil) }, PhaseUpgrade, false, "subprotocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxTimeout(t, time.Second)
			start := time.Now()
			s := New(wsConfig(tt.addr(), c))
			t.Cleanup(func() { s.Close() })
			err := s.Dial(ctx)
			var pe *PhaseError
			if !errors.As(err, &pe) || pe.Phase != tt.phase || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want phase %s holding %q", err, tt.phase, tt.want)
			}
			if Absent(err) != tt.absent {
				t.Errorf("Absent(%v) = %v, want %v", err, !tt.absent, tt.absent)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v with a 1s deadline", d)
			}
		})
	}
}

// The trust options apply to the WebSocket transport: a certificate from
// another CA fails TLS, with the certificate kept for the report.
func TestWebSocketVerifiesTheCertificate(t *testing.T) {
	served, other := newCerts(t, "127.0.0.1"), newCerts(t, "127.0.0.1")
	addr := startWS(t, served, []string{"xmpp"}, func(*wsPeer) {}, nil)
	s, err := connect(t, ctxTimeout(t, 5*time.Second), wsConfig(addr, other))
	var te *probe.TLSError
	if !errors.As(err, &te) {
		t.Fatalf("err %v, want a TLS error", err)
	}
	if s.Facts().Certificate == nil {
		t.Error("the rejected certificate was not kept")
	}
}

// A hostile or broken server over WebSocket is reported, not obeyed.
func TestWebSocketHostileServer(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	tests := []struct {
		name   string
		script func(*wsPeer)
		want   error
		text   string
	}{
		{"one endless message", func(p *wsPeer) {
			p.expect("<open")
			w, err := p.c.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			_, _ = io.WriteString(w, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'")
			chunk := strings.Repeat(" a='b'", 1<<12)
			for range 400 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
			_ = w.Close()
		}, ErrTooMuchData, ""},
		{"<close/> instead of features", func(p *wsPeer) {
			p.expect("<open")
			p.send(wsOpen, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
		}, ErrStreamClosed, ""},
		{"a close frame", func(p *wsPeer) {
			p.expect("<open")
			_ = p.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"))
		}, io.EOF, "shutting down"},
		{"stream error", func(p *wsPeer) {
			p.expect("<open")
			p.send(wsOpen, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
		}, nil, "system-shutdown"},
		{"features nested without end", func(p *wsPeer) {
			p.expect("<open")
			p.send(wsOpen, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"+strings.Repeat("<a>", 100_000))
		}, xmltext.ErrTooDeep, ""},
		{"an end tag that does not match, on line 3", func(p *wsPeer) {
			p.expect("<open")
			p.send(wsOpen, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\n<a>\n</b></stream:features>")
		}, nil, "line 3: element <a> closed by </b>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startWS(t, c, []string{"xmpp"}, tt.script, nil)
			cfg := wsConfig(addr, c)
			cfg.MaxBytes = 1 << 20
			_, err := connect(t, ctxTimeout(t, 5*time.Second), cfg)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err %v, want %v holding %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestQualify(t *testing.T) {
	tests := map[string]string{
		"<iq type='get'/>": "<iq xmlns='jabber:client' type='get'/>",
		"<presence/>":      "<presence xmlns='jabber:client'/>",
		"<presence><priority>0</priority></presence>":      "<presence xmlns='jabber:client'><priority>0</priority></presence>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>": "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
		"<iqx/>": "<iqx/>",
	}
	for in, want := range tests {
		if got := qualify(in); got != want {
			t.Errorf("qualify(%q) = %q, want %q", in, got, want)
		}
	}
}

// deadlineRecorder is a socket that records the deadlines set on it.
type deadlineRecorder struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (r *deadlineRecorder) SetDeadline(t time.Time) error { r.record(t); return r.Conn.SetDeadline(t) }
func (r *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	r.record(t)
	return r.Conn.SetWriteDeadline(t)
}
func (r *deadlineRecorder) SetReadDeadline(t time.Time) error {
	r.record(t)
	return r.Conn.SetReadDeadline(t)
}

func (r *deadlineRecorder) record(t time.Time) {
	r.mu.Lock()
	r.set = append(r.set, t)
	r.mu.Unlock()
}

// Over WebSocket, the session's deadlines stay on the socket: gorilla clears
// the deadline after its handshake and sets "none" before every frame it
// writes, which would let Close's goodbye, or a ping, block on a server
// that stopped reading. The session itself never sets "none" under a
// context with a deadline, so any zero deadline on the socket is gorilla's.
func TestWebSocketKeepsTheSessionsDeadlines(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	addr := startWS(t, c, []string{"xmpp"}, func(p *wsPeer) {
		if p.expect("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='finesse.test' version='1.0'/>") {
			p.send(wsOpen, wsSASLFeats)
			p.expect("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
		}
	}, nil)
	s := New(wsConfig(addr, c))
	var rec *deadlineRecorder
	dial := s.dial
	s.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		rec = &deadlineRecorder{Conn: conn}
		return rec, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, d := range rec.set {
		if d.IsZero() {
			t.Errorf("deadline %d of %d set on the socket is none: %v", i+1, len(rec.set), rec.set)
		}
	}
	if len(rec.set) < 3 {
		t.Errorf("%d deadlines set on the socket, want the session's for dial, open and close", len(rec.set))
	}
}

// A server's WebSocket ping that comes after the session's last write
// deadline has gone by (a live ping's timeout, say) is answered, and the
// session lives on: Openfire pings every 30 s of client silence.
func TestWebSocketAnswersServerPingsAfterTheWriteDeadline(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	pong := make(chan bool, 1)
	addr := startWS(t, c, []string{"xmpp"}, func(p *wsPeer) {
		if !wsServeUntilBind(p, "<open") || !wsServeBindAndPresence(p) {
			return
		}
		// The probe's first live ping, answered; then silence past its
		// 200 ms write timeout, and a WebSocket ping.
		if !p.expect("<ping xmlns='urn:xmpp:ping'/>") {
			return
		}
		p.send("<iq type='result' id='ping-1'/>")
		time.Sleep(500 * time.Millisecond)
		p.c.SetPongHandler(func(string) error { pong <- true; return nil })
		if err := p.c.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(time.Second)); err != nil {
			return
		}
		_ = p.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			if _, _, err := p.c.ReadMessage(); err != nil {
				return
			}
		}
	}, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	s, err := connect(t, ctx, wsConfig(addr, c))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "probe", "pw", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AwaitPresence(ctx, "finesse@finesse.test"); err != nil {
		t.Fatal(err)
	}
	// The ping's write deadline lapses 200 ms after it is sent; the next
	// comes a second later.
	l := listen(t, s, ListenConfig{WatchJID: "finesse@finesse.test", PingInterval: time.Second, PingTimeout: 200 * time.Millisecond})
	select {
	case <-pong:
	case <-l.done:
		t.Fatalf("Listen ended before the server's ping was answered: %v", l.err)
	case <-time.After(3 * time.Second):
		t.Fatal("the server's WebSocket ping was not answered")
	}
	select {
	case <-l.done:
		t.Fatalf("Listen ended after answering the server's ping: %v", l.err)
	case <-time.After(200 * time.Millisecond):
	}
}

// XML that is not well-formed between the login's stanzas is reported as
// the decoder says, without gosrc.io/xmpp's function name.
func TestMalformedStanzaIsReportedPlainly(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	addr := startWS(t, c, []string{"xmpp"}, func(p *wsPeer) {
		if !wsServeUntilBind(p, "<open") {
			return
		}
		p.send(wsOpen, wsBindFeats, "\n</jid>")
		p.expect("<close")
	}, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	s, err := connect(t, ctx, wsConfig(addr, c))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Login(ctx, "probe", "pw", "r")
	if err == nil || strings.Contains(err.Error(), "NextStart") || !strings.Contains(err.Error(), "element <stream:stream> closed by </jid>") {
		t.Errorf("Login: %v, want the decoder's error without NextStart", err)
	}
}
