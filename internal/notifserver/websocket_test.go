package notifserver

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

const wsOpen = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + testDomain + "' version='1.0'/>"

// startHTTPS serves the server's WebSocket and BOSH handlers over TLS on
// loopback, as the simulator does, and returns the host:port.
func (e *testEnv) startHTTPS(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(finesse.WebSocketPath, e.srv.WebSocketHandler())
	mux.Handle(finesse.BOSHPath, e.srv.BOSHHandler())
	ts := httptest.NewUnstartedServer(mux)
	ts.TLS = e.srv.cfg.TLS.Clone()
	ts.StartTLS()
	// The server first, so that requests it holds (SetSilent) end and
	// httptest's Close does not wait for them.
	t.Cleanup(func() {
		e.stop()
		ts.Close()
	})
	return ts.Listener.Addr().String()
}

// wsClient speaks XMPP over WebSocket by hand.
type wsClient struct {
	t   *testing.T
	ws  *websocket.Conn
	jid string
}

func (e *testEnv) wsDialer() *websocket.Dialer {
	return &websocket.Dialer{
		TLSClientConfig:  e.client.Clone(),
		Subprotocols:     []string{"xmpp"},
		HandshakeTimeout: ioWait,
	}
}

func (e *testEnv) dialWS(t *testing.T, addr string) *wsClient {
	t.Helper()
	ws, resp, err := e.wsDialer().Dial("wss://"+addr+finesse.WebSocketPath, nil)
	if err != nil {
		t.Fatalf("WebSocket dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if ws.Subprotocol() != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp", ws.Subprotocol())
	}
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(ioWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// wantNS is the namespace each element the server sends must carry, which
// it can only do when the message declares it itself.
var wantNS = map[string]string{
	"open": nsFraming, "close": nsFraming,
	"features": stanza.NSStream, "error": stanza.NSStream,
	"success": stanza.NSSASL, "failure": stanza.NSSASL,
	"iq": stanza.NSClient, "presence": stanza.NSClient, "message": stanza.NSClient,
}

// recv reads one message, which must be one complete element whose
// namespace it declares itself, and returns it.
func (c *wsClient) recv() (element, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(ioWait))
	typ, msg, err := c.ws.ReadMessage()
	if err != nil {
		return element{}, err
	}
	if typ != websocket.TextMessage {
		c.t.Fatalf("message type %d, want text", typ)
	}
	dec := xml.NewDecoder(bytes.NewReader(msg))
	var el element
	if err := dec.Decode(&el); err != nil {
		c.t.Fatalf("message %q alone is not an element: %v", msg, err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		c.t.Fatalf("message %q: %v (%v) after the element, want its end", msg, tok, err)
	}
	if want, ok := wantNS[el.XMLName.Local]; !ok || el.XMLName.Space != want {
		c.t.Fatalf("message %q: element {%s}%s, want namespace %q", msg, el.XMLName.Space, el.XMLName.Local, want)
	}
	return el, nil
}

func (c *wsClient) next() element {
	c.t.Helper()
	el, err := c.recv()
	if err != nil {
		c.t.Fatalf("reading the next message: %v", err)
	}
	return el
}

func (c *wsClient) expect(local string) element {
	c.t.Helper()
	el := c.next()
	if el.XMLName.Local != local {
		c.t.Fatalf("got <%s %v>%s, want <%s>", el.XMLName.Local, el.Attrs, el.Inner, local)
	}
	return el
}

// open sends <open/> and returns the server's features, after checking its <open/>.
func (c *wsClient) open() element {
	c.t.Helper()
	c.send(wsOpen)
	o := c.expect("open")
	if o.attr("from") != testDomain || o.attr("id") == "" || o.attr("version") != "1.0" || o.attr("lang") != "en" {
		c.t.Fatalf("server <open %v>, want from, id, version 1.0 and xml:lang en", o.Attrs)
	}
	return c.expect("features")
}

// expectClosed reads the close frame, then the end of the connection.
func (c *wsClient) expectClosed(code int) {
	c.t.Helper()
	_, err := c.recv()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		c.t.Fatalf("got %v, want a close frame with code %d", err, code)
	}
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(ioWait))
	if n, err := c.ws.NetConn().Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		c.t.Fatalf("after the close frame: read %d bytes, %v; want the connection closed", n, err)
	}
}

// expectStreamError reads a stream error, <close/>, then the close frame.
func (c *wsClient) expectStreamError(condition string) {
	c.t.Helper()
	el := c.expect("error")
	if !strings.Contains(el.Inner, "<"+condition+" xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"") &&
		!strings.Contains(el.Inner, "<"+condition+" xmlns='urn:ietf:params:xml:ns:xmpp-streams'") {
		c.t.Fatalf("stream error %s, want %s", el.Inner, condition)
	}
	c.expect("close")
	c.expectClosed(websocket.CloseNormalClosure)
}

// wsBound logs in over WebSocket and binds resource, without presence.
func (e *testEnv) wsBound(t *testing.T, addr, resource string) *wsClient {
	t.Helper()
	c := e.dialWS(t, addr)
	features := c.open()
	if !strings.Contains(features.Inner, "<mechanism>PLAIN</mechanism>") || strings.Contains(features.Inner, "starttls") {
		t.Fatalf("first features %s, want PLAIN and no STARTTLS", features.Inner)
	}
	c.send(authPayload(testUser, testPassword))
	c.expect("success")
	if features := c.open(); !strings.Contains(features.Inner, "urn:ietf:params:xml:ns:xmpp-bind") {
		t.Fatalf("features after SASL %s, want bind", features.Inner)
	}
	c.send("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
		resource + "</resource></bind></iq>")
	el := c.expect("iq")
	var b struct {
		JID string `xml:"bind>jid"`
	}
	if err := xml.Unmarshal([]byte("<x>"+el.Inner+"</x>"), &b); err != nil || el.attr("type") != "result" || el.attr("id") != "bind" {
		t.Fatalf("bind answered <iq %v>%s (%v)", el.Attrs, el.Inner, err)
	}
	c.jid = b.JID
	return c
}

func (c *wsClient) ping(id string) {
	c.t.Helper()
	c.send("<iq xmlns='jabber:client' type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
	if el := c.expect("iq"); el.attr("id") != id || el.attr("type") != "result" {
		c.t.Fatalf("got <iq %v>%s, want the result of ping %s", el.Attrs, el.Inner, id)
	}
}

func TestWebSocketSession(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	c := e.wsBound(t, addr, "desktop")
	if want := testUser + "@" + testDomain + "/desktop"; c.jid != want {
		t.Errorf("bound %q, want %q", c.jid, want)
	}
	if n := e.srv.Sessions(); n != 1 {
		t.Errorf("Sessions() = %d with one WebSocket client, want 1", n)
	}

	c.send("<iq xmlns='jabber:client' type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
	if el := c.expect("iq"); el.attr("type") != "result" || el.attr("to") != c.jid ||
		!strings.Contains(el.Inner, "jid=\""+finesseBare+"\"") && !strings.Contains(el.Inner, "jid='"+finesseBare+"'") {
		t.Fatalf("roster answered <iq %v>%s, want the finesse item", el.Attrs, el.Inner)
	}
	c.send("<iq xmlns='jabber:client' type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
	if el := c.expect("iq"); el.attr("type") != "result" || el.attr("id") != "sess" {
		t.Fatalf("session IQ answered <iq %v>", el.Attrs)
	}
	// Stanzas relying on the stream's default namespace are served too.
	c.send("<iq type='get' id='unqualified'><ping xmlns='urn:xmpp:ping'/></iq>")
	if el := c.expect("iq"); el.attr("id") != "unqualified" || el.attr("type") != "result" {
		t.Fatalf("unqualified ping answered <iq %v>", el.Attrs)
	}

	c.send("<presence xmlns='jabber:client'><priority>0</priority></presence>")
	if el := c.expect("presence"); el.attr("type") != "" || el.attr("from") != finesseBare+"/finesse" || el.attr("to") != c.jid {
		t.Fatalf("got <presence %v>, want available presence of %s", el.Attrs, finesseBare)
	}
	e.srv.SetFinesseAvailable(false)
	if el := c.expect("presence"); el.attr("type") != "unavailable" || el.attr("from") != finesseBare {
		t.Fatalf("got <presence %v>, want unavailable presence of %s", el.Attrs, finesseBare)
	}

	e.srv.PublishSystemInfo("<SystemInfo><status>OUT_OF_SERVICE</status></SystemInfo>")
	el := c.expect("message")
	var msg notification
	if err := xml.Unmarshal([]byte("<message xmlns='jabber:client'>"+el.Inner+"</message>"), &msg); err != nil {
		t.Fatal(err)
	}
	var u update
	if err := xml.Unmarshal([]byte(msg.Event.Items.Item.Notification.Text), &u); err != nil ||
		el.attr("from") != "pubsub."+testDomain || msg.Event.Items.Node != "/finesse/api/SystemInfo" ||
		u.Data.SystemInfo.Status != "OUT_OF_SERVICE" {
		t.Fatalf("notification <message %v>%s (%v), want an OUT_OF_SERVICE SystemInfo update", el.Attrs, el.Inner, err)
	}

	c.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	c.expect("close")
	c.expectClosed(websocket.CloseNormalClosure)
	if !waitFor(func() bool { return e.srv.Sessions() == 0 }) {
		t.Errorf("Sessions() = %d after <close/>, want 0", e.srv.Sessions())
	}
}

func TestWebSocketLoginRejected(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	tests := []struct {
		name, password string
		reject         bool
	}{
		{"wrong password", "wrong", false},
		{"auth-reject scenario", testPassword, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.SetAuthReject(tt.reject)
			defer e.srv.SetAuthReject(false)
			c := e.dialWS(t, addr)
			c.open()
			c.send(authPayload(testUser, tt.password))
			if el := c.expect("failure"); !strings.Contains(el.Inner, "<not-authorized") {
				t.Fatalf("failure %s, want not-authorized", el.Inner)
			}
		})
	}
}

func TestWebSocketDropAll(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	bound := e.wsBound(t, addr, "desktop")
	negotiating := e.dialWS(t, addr)
	negotiating.open()
	tcp := e.login(t, xmppprobe.DirectTLS, "tcp")
	if _, err := awaitFinesse(tcp, ioWait); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Sessions(); n != 3 {
		t.Fatalf("Sessions() = %d, want 3", n)
	}

	e.srv.DropAll()
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after DropAll, want 0", n)
	}
	bound.expectStreamError("system-shutdown")
	negotiating.expectStreamError("system-shutdown")
	_, err := awaitFinesse(tcp, ioWait)
	var se *xmppprobe.StreamError
	if !errors.As(err, &se) || se.Condition != "system-shutdown" {
		t.Errorf("TCP session got %v, want StreamError system-shutdown", err)
	}
	e.wsBound(t, addr, "again")
}

func TestWebSocketSilent(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	live := e.wsBound(t, addr, "desktop")

	e.srv.SetSilent(true)
	d := e.wsDialer()
	d.HandshakeTimeout = 300 * time.Millisecond
	if ws, _, err := d.Dial("wss://"+addr+finesse.WebSocketPath, nil); err == nil {
		ws.Close()
		t.Error("WebSocket dial while silent succeeded, want it to hang")
	}
	live.send("<iq xmlns='jabber:client' type='get' id='lost'><ping xmlns='urn:xmpp:ping'/></iq>")
	e.srv.SetFinesseAvailable(false)
	_ = live.ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, msg, err := live.ws.ReadMessage(); !isTimeout(err) {
		t.Fatalf("live session while silent: got %q, %v; want nothing", msg, err)
	}

	e.srv.SetSilent(false)
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after the network came back, want 0", n)
	}
	// The read timed out, so gorilla's reader is done; the connection under it says what happened.
	_ = live.ws.NetConn().SetReadDeadline(time.Now().Add(ioWait))
	if n, err := live.ws.NetConn().Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("silenced session after SetSilent(false): read %d bytes, %v; want the connection closed", n, err)
	}
	c := e.wsBound(t, addr, "after")
	c.send("<presence xmlns='jabber:client'/>")
	if el := c.expect("presence"); el.attr("type") != "unavailable" {
		t.Errorf("presence after the silence %v, want unavailable", el.Attrs)
	}
}

func TestWebSocketByteCap(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	c := e.wsBound(t, addr, "desktop")
	// Under the cap, many times over: the cap is per message.
	pad := strings.Repeat("p", 64<<10)
	for range maxSessionBytes/len(pad) + 4 {
		c.ping(pad)
	}
	// The server may hang up before the whole message is out.
	_ = c.ws.WriteMessage(websocket.TextMessage, []byte("<message xmlns='jabber:client'><body>"+strings.Repeat("x", wsReadLimit)+"</body></message>"))
	c.expectClosed(websocket.CloseMessageTooBig)
	if !waitFor(func() bool { return e.srv.Sessions() == 0 }) {
		t.Errorf("Sessions() = %d after an oversized message, want 0", e.srv.Sessions())
	}
}

func TestWebSocketStreamErrors(t *testing.T) {
	const step = 200 * time.Millisecond
	opened := func(c *wsClient) { c.open() }
	tests := []struct {
		name      string
		before    func(*wsClient) // negotiation done before the offending message
		send      string
		binary    bool
		condition string
	}{
		{"wrong domain", nil, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='other.example' version='1.0'/>", false, "host-unknown"},
		{"TCP stream header", nil, clientHeader, false, "restricted-xml"},
		{"stream element", nil, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" +
			testDomain + "'/>", false, "invalid-namespace"},
		{"two elements in a message", opened, authPayload(testUser, testPassword) + "<presence/>", false, "not-well-formed"},
		{"text beside the element", opened, "hello" + authPayload(testUser, testPassword), false, "not-well-formed"},
		{"wrapper escape", opened, "<presence/></ws><ws>", false, "not-well-formed"},
		{"processing instruction", opened, "<?pi x?>" + authPayload(testUser, testPassword), false, "restricted-xml"},
		{"binary message", opened, authPayload(testUser, testPassword), true, "not-well-formed"},
		{"stanza before SASL", opened, "<presence xmlns='jabber:client'/>", false, "not-authorized"},
		{"stalled negotiation", opened, "", false, "connection-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{}, func(s *Server) { s.stepTimeout = step })
			c := e.dialWS(t, e.startHTTPS(t))
			if tt.before != nil {
				tt.before(c)
			}
			switch {
			case tt.binary:
				_ = c.ws.WriteMessage(websocket.BinaryMessage, []byte(tt.send))
			case tt.send != "":
				c.send(tt.send)
			}
			if tt.before == nil {
				c.expect("open") // an error needs an open stream
			}
			c.expectStreamError(tt.condition)
		})
	}
}

func TestWebSocketNeedsSubprotocol(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	d := e.wsDialer()
	d.Subprotocols = nil
	_, resp, err := d.Dial("wss://"+addr+finesse.WebSocketPath, nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial without subprotocol: %v, %v; want 400", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"xmpp"`) {
		t.Errorf("400 body %q, want one line naming the subprotocol", body)
	}
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after a refused upgrade, want 0", n)
	}
}

func TestWebSocketAfterClose(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	live := e.wsBound(t, addr, "desktop")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	live.expectClosed(websocket.CloseNormalClosure)
	_, resp, err := e.wsDialer().Dial("wss://"+addr+finesse.WebSocketPath, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v; want 503", err, resp)
	}
}

// A client that leaves before its <open/> leaves nothing behind.
func TestWebSocketClientGoneBeforeOpen(t *testing.T) {
	e := newEnv(t, Config{})
	addr := e.startHTTPS(t)
	c := e.dialWS(t, addr)
	if !waitFor(func() bool { return e.srv.Sessions() == 1 }) {
		t.Fatalf("Sessions() = %d, want 1", e.srv.Sessions())
	}
	_ = c.ws.NetConn().Close()
	if !waitFor(func() bool { return e.srv.Sessions() == 0 }) {
		t.Errorf("Sessions() = %d after the client left, want 0", e.srv.Sessions())
	}
}

// Whatever a client sends in a message, parsing it neither panics nor
// hands the session more than one element.
func FuzzWebSocketMessage(f *testing.F) {
	for _, seed := range []string{
		wsOpen, authPayload(testUser, testPassword), "<presence/>", "<presence/></ws><ws>", "</ws>", "<iq/><iq/>",
		"<?xml version='1.0'?><iq/>", "<!DOCTYPE x [<!ENTITY a 'b'>]><iq>&a;</iq>", "<stream:features/>", "<x:y/>", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		dec, se, err := parseMessage(msg)
		if err != nil {
			return
		}
		if err := dec.Skip(); err != nil {
			t.Fatalf("accepted %q as <%s>, which then fails: %v", msg, se.Name.Local, err)
		}
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("accepted %q, whose end fails: %v", msg, err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				t.Fatalf("accepted %q, which holds a second element <%s>", msg, tok.Name.Local)
			case xml.CharData, xml.EndElement: // whitespace, the wrapper's end
			default:
				t.Fatalf("accepted %q, which holds %T after its element", msg, tok)
			}
		}
	})
}
