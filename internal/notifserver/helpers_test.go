package notifserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

const (
	testDomain   = "finesse-a.example.test"
	testUser     = "probe"
	testPassword = "s3cret"
	finesseBare  = "finesse@" + testDomain
	clientHeader = "<?xml version='1.0'?><stream:stream to='" + testDomain +
		"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	// ioWait bounds every wait for something that should happen promptly.
	ioWait = 5 * time.Second
)

var modes = []xmppprobe.TLSMode{xmppprobe.DirectTLS, xmppprobe.StartTLS}

// testEnv is a server listening on loopback in both modes.
type testEnv struct {
	srv    *Server
	addrs  map[xmppprobe.TLSMode]string
	ca     *pki.CA
	client *tls.Config // trusts the server's certificate
	stop   func()      // closes the server and its listeners; safe to call twice
}

// newEnv starts a server with cfg, filling in the domain, the probe user and
// a certificate when they are unset. tune runs before serving, to shorten
// timeouts.
func newEnv(t *testing.T, cfg Config, tune ...func(*Server)) *testEnv {
	t.Helper()
	ca, err := pki.NewCA("notifserver test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1", testDomain}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Domain == "" {
		cfg.Domain = testDomain
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{testUser: testPassword}
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	e := &testEnv{
		srv:    New(cfg),
		addrs:  map[xmppprobe.TLSMode]string{},
		ca:     ca,
		client: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"},
	}
	for _, f := range tune {
		f(e.srv)
	}
	var lns []net.Listener
	var wg sync.WaitGroup
	for _, mode := range modes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		e.addrs[mode] = ln.Addr().String()
		wg.Go(func() {
			if err := e.srv.Serve(ln, mode == xmppprobe.DirectTLS); err != nil {
				t.Errorf("Serve(%s) = %v, want nil after the listener closed", mode, err)
			}
		})
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			if err := e.srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for _, ln := range lns {
				_ = ln.Close()
			}
			wg.Wait()
		})
	}
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) probeConfig(mode xmppprobe.TLSMode) xmppprobe.Config {
	return xmppprobe.Config{Addr: e.addrs[mode], Domain: testDomain, Mode: mode, TLS: e.client.Clone()}
}

// login returns a probe session that is bound and has sent its initial presence.
func (e *testEnv) login(t *testing.T, mode xmppprobe.TLSMode, resource string) *xmppprobe.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	s := xmppprobe.New(e.probeConfig(mode))
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("Connect(%s): %v", mode, err)
	}
	if err := s.Login(ctx, testUser, testPassword, resource); err != nil {
		t.Fatalf("Login(%s): %v", mode, err)
	}
	return s
}

// awaitFinesse waits up to d for the next presence of the 'finesse' user.
func awaitFinesse(s *xmppprobe.Session, d time.Duration) (xmppprobe.Presence, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.AwaitPresence(ctx, finesseBare)
}

// waitFor polls cond until it holds or ioWait passes.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(ioWait)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// element is any XML element, decoded generically.
type element struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   string     `xml:",innerxml"`
}

func (el element) attr(name string) string {
	for _, a := range el.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// rawClient speaks XMPP by hand, to see exactly what the server sends.
type rawClient struct {
	t       *testing.T
	conn    net.Conn
	r       *bufio.Reader // kept across stream restarts, so no byte is lost between parsers
	dec     *xml.Decoder
	jid     string
	rec     *recorder // the TCP connection, recording what the server sent
	tlsFrom int       // where TLS starts in rec
}

// dialRaw connects; in DirectTLS mode the TLS handshake is done.
func (e *testEnv) dialRaw(t *testing.T, mode xmppprobe.TLSMode) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addrs[mode], ioWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	rec := &recorder{Conn: conn}
	c := &rawClient{t: t, conn: rec, rec: rec}
	if mode == xmppprobe.DirectTLS {
		c.upgrade(e.client)
	}
	c.r = bufio.NewReader(c.conn)
	return c
}

func (c *rawClient) upgrade(cfg *tls.Config) {
	c.t.Helper()
	c.tlsFrom = c.rec.received.Len()
	tc := tls.Client(c.conn, cfg.Clone())
	_ = tc.SetDeadline(time.Now().Add(ioWait))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// open sends a stream header and returns the server's features.
func (c *rawClient) open() element {
	c.t.Helper()
	c.send(clientHeader)
	c.readHeader()
	features := c.next()
	if features.XMLName.Local != "features" {
		c.t.Fatalf("got <%s> after the stream header, want <stream:features>", features.XMLName.Local)
	}
	return features
}

// readHeader starts a fresh parser and reads the server's stream header.
func (c *rawClient) readHeader() xml.StartElement {
	c.t.Helper()
	c.dec = xml.NewDecoder(c.r)
	_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			c.t.Fatalf("reading the server's stream header: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "stream" {
				c.t.Fatalf("got <%s>, want the stream header", se.Name.Local)
			}
			return se
		}
	}
}

// nextOrEnd returns the next top-level element, or an error when the stream
// or the connection ends (errStreamClosed for </stream:stream>).
func (c *rawClient) nextOrEnd() (element, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return element{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var el element
			err := c.dec.DecodeElement(&el, &t)
			return el, err
		case xml.EndElement:
			return element{}, errStreamClosed
		}
	}
}

func (c *rawClient) next() element {
	c.t.Helper()
	el, err := c.nextOrEnd()
	if err != nil {
		c.t.Fatalf("reading the next element: %v", err)
	}
	return el
}

// expectStreamError reads the stream error that should come next, then the
// end of the stream and of the connection.
func (c *rawClient) expectStreamError(condition string) {
	c.t.Helper()
	el := c.next()
	if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "<"+condition+" ") {
		c.t.Fatalf("got <%s>%s, want stream error %s", el.XMLName.Local, el.Inner, condition)
	}
	c.expectEnd()
}

// expectEnd reads </stream:stream> and then the end of the connection.
func (c *rawClient) expectEnd() {
	c.t.Helper()
	if el, err := c.nextOrEnd(); !errors.Is(err, errStreamClosed) {
		c.t.Fatalf("got <%s> (%v), want </stream:stream>", el.XMLName.Local, err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
	if n, err := c.r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		c.t.Fatalf("after </stream:stream>: read %d bytes, %v; want the connection closed", n, err)
	}
}

// authPayload is a SASL PLAIN initial response.
func authPayload(user, password string) string {
	return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>"
}

// authenticated takes a fresh connection through TLS and SASL, up to the
// features offered after authentication.
func (e *testEnv) authenticated(t *testing.T, mode xmppprobe.TLSMode) *rawClient {
	t.Helper()
	c := e.dialRaw(t, mode)
	if mode == xmppprobe.StartTLS {
		c.open()
		c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		if el := c.next(); el.XMLName.Local != "proceed" {
			t.Fatalf("got <%s>, want <proceed/>", el.XMLName.Local)
		}
		c.upgrade(e.client)
	}
	c.open()
	c.send(authPayload(testUser, testPassword))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("got <%s>%s, want SASL success", el.XMLName.Local, el.Inner)
	}
	c.open()
	return c
}

// bound returns a raw session bound to resource that has not sent presence.
func (e *testEnv) bound(t *testing.T, mode xmppprobe.TLSMode, resource string) *rawClient {
	t.Helper()
	c := e.authenticated(t, mode)
	c.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
		resource + "</resource></bind></iq>")
	el := c.next()
	var b struct {
		JID string `xml:"bind>jid"`
	}
	if err := xml.Unmarshal([]byte("<x>"+el.Inner+"</x>"), &b); err != nil || el.attr("type") != "result" {
		t.Fatalf("bind answered <%s type=%q>%s (%v)", el.XMLName.Local, el.attr("type"), el.Inner, err)
	}
	c.jid = b.JID
	return c
}

// ping sends a ping and requires its result to be the next stanza, which
// proves nothing else was sent before it.
func (c *rawClient) ping(id string) {
	c.t.Helper()
	c.send("<iq type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
	el := c.next()
	if el.XMLName.Local != "iq" || el.attr("id") != id || el.attr("type") != "result" {
		c.t.Fatalf("got <%s id=%q type=%q>%s, want the result of ping %s",
			el.XMLName.Local, el.attr("id"), el.attr("type"), el.Inner, id)
	}
}
