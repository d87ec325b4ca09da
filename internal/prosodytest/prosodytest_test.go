//go:build integration

package prosodytest

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/pki"
)

const testDomain = "finesse.test"

var testUsers = map[string]string{
	"finesse":  "finesse-secret",
	"probe":    "probe-secret",
	"outsider": "outsider-secret",
}

type fixture struct {
	s      *Server
	ca     *pki.CA
	caFile string
	dir    string
}

func startFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("prosodytest CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1", "localhost", testDomain}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	if err := leaf.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	s := Start(t, Config{
		Domain:      testDomain,
		CertFile:    certFile,
		KeyFile:     keyFile,
		Users:       testUsers,
		RosterGroup: []string{"finesse", "probe"},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.LogTail())
		}
	})
	return &fixture{s: s, ca: ca, caFile: caFile, dir: dir}
}

// verified is what the real probe does: trust only the test CA and check the
// IP SAN. Go sends no SNI for an IP address, which is the case that matters.
func (f *fixture) verified() *tls.Config {
	return &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"}
}

const streamHeader = "<?xml version='1.0'?><stream:stream to='" + testDomain +
	"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

// conn is a deliberately dumb XMPP client: it matches substrings in the raw
// byte stream, which is enough to check what the server says.
type conn struct {
	t    *testing.T
	name string
	c    net.Conn
	buf  []byte // received and not yet consumed by expect
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// expect reads until needle has arrived and returns everything up to and
// including it.
func (c *conn) expect(needle string, timeout time.Duration) string {
	c.t.Helper()
	got, err := c.readUntil(needle, timeout)
	if err != nil {
		c.t.Fatalf("%s: waiting for %q: %v; received %q", c.name, needle, err, got)
	}
	return got
}

func (c *conn) readUntil(needle string, timeout time.Duration) (string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.c.SetReadDeadline(time.Time{}) }()
	chunk := make([]byte, 4096)
	for {
		if i := bytes.Index(c.buf, []byte(needle)); i >= 0 {
			got := string(c.buf[:i+len(needle)])
			c.buf = c.buf[i+len(needle):]
			return got, nil
		}
		n, err := c.c.Read(chunk)
		c.buf = append(c.buf, chunk[:n]...)
		if err != nil {
			return string(c.buf), err
		}
	}
}

// login authenticates with SASL PLAIN over an already encrypted connection,
// binds a resource and sends initial presence, as the probe does.
func (c *conn) login(user, password string) {
	c.t.Helper()
	c.send(streamHeader)
	c.expect("<mechanism>PLAIN</mechanism>", 5*time.Second)
	c.expect("</stream:features>", 5*time.Second)
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>")
	c.expect("<success", 5*time.Second)
	c.buf = nil
	c.send(streamHeader)
	c.expect("</stream:features>", 5*time.Second)
	c.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>test</resource></bind></iq>")
	c.expect("</iq>", 5*time.Second)
	c.send("<presence><priority>0</priority></presence>")
}

func (f *fixture) dialDirect(t *testing.T, name string) *conn {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", f.s.DirectTLSAddr, f.verified())
	if err != nil {
		t.Fatalf("%s: direct TLS to %s: %v", name, f.s.DirectTLSAddr, err)
	}
	t.Cleanup(func() { tc.Close() })
	return &conn{t: t, name: name, c: tc}
}

func TestStartTLSPortOffersStartTLSOnly(t *testing.T) {
	f := startFixture(t)
	raw, err := net.DialTimeout("tcp", f.s.StartTLSAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := &conn{t: t, name: "starttls", c: raw}
	c.send(streamHeader)
	features := c.expect("</stream:features>", 5*time.Second)
	if !strings.Contains(features, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>") {
		t.Fatalf("no <starttls> in %q", features)
	}
	if strings.Contains(features, "<mechanism>") {
		t.Fatalf("SASL offered before TLS, Finesse does not do that: %q", features)
	}

	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	c.expect("<proceed", 5*time.Second)
	tc := tls.Client(raw, f.verified())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS after STARTTLS: %v", err)
	}
	c = &conn{t: t, name: "starttls+tls", c: tc}
	c.send(streamHeader)
	features = c.expect("</stream:features>", 5*time.Second)
	if !strings.Contains(features, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("PLAIN not offered after STARTTLS: %q", features)
	}
}

func TestDirectTLSPortOffersPLAIN(t *testing.T) {
	f := startFixture(t)
	c := f.dialDirect(t, "direct")
	c.send(streamHeader)
	features := c.expect("</stream:features>", 5*time.Second)
	if !strings.Contains(features, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("PLAIN not offered on the direct TLS port: %q", features)
	}
}

func TestRosterGroupSharesPresence(t *testing.T) {
	f := startFixture(t)
	finesse := f.dialDirect(t, "finesse")
	finesse.login("finesse", testUsers["finesse"])
	finesse.expect("from='finesse@"+testDomain+"/test'", 5*time.Second) // its own presence, echoed

	probe := f.dialDirect(t, "probe")
	probe.login("probe", testUsers["probe"])
	probe.expect("from='finesse@"+testDomain+"/test'", 5*time.Second)

	outsider := f.dialDirect(t, "outsider")
	outsider.login("outsider", testUsers["outsider"])
	outsider.expect("from='outsider@"+testDomain+"/test'", 5*time.Second)
	if got, err := outsider.readUntil("finesse@", time.Second); err == nil {
		t.Fatalf("a user outside the roster group saw finesse: %q", got)
	}

	finesse.send("</stream:stream>")
	for {
		// Attribute order varies between runs, so look at whole presence tags.
		got := probe.expect("type='unavailable'", 5*time.Second)
		got = got[strings.LastIndex(got, "<presence"):] + probe.expect(">", 5*time.Second)
		if strings.Contains(got, "from='finesse@"+testDomain) {
			break
		}
	}
}

func TestPubsubComponentAnswers(t *testing.T) {
	f := startFixture(t)
	c := f.dialDirect(t, "probe")
	c.login("probe", testUsers["probe"])
	c.send("<iq type='get' id='disco1' to='pubsub." + testDomain + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	reply := c.expect("</iq>", 5*time.Second) // the only iq in flight
	if !strings.Contains(reply, "category='pubsub'") || strings.Contains(reply, "type='error'") {
		t.Fatalf("pubsub component did not describe itself as pubsub: %q", reply)
	}
}

func TestStopClosesBothPorts(t *testing.T) {
	f := startFixture(t)
	begun := time.Now()
	f.s.Stop()
	t.Logf("Stop took %v", time.Since(begun))
	f.s.Stop() // idempotent
	f.assertStopped(t)
}

// assertStopped fails t unless the latest prosody has exited and none of
// its ports accepts connections.
func (f *fixture) assertStopped(t *testing.T) {
	t.Helper()
	select {
	case <-f.s.proc.exited:
	default:
		t.Fatal("Stop returned before prosody exited")
	}
	for _, addr := range []string{f.s.StartTLSAddr, f.s.DirectTLSAddr, f.s.HTTPSAddr} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
}

// A restart is what a client sees of a Notification Service restarted: its
// stream ends with system-shutdown, and reconnecting to the same address
// finds the same users, passwords and shared roster.
func TestRestartKeepsPortsUsersAndRoster(t *testing.T) {
	f := startFixture(t)
	startTLS, directTLS, https := f.s.StartTLSAddr, f.s.DirectTLSAddr, f.s.HTTPSAddr
	finesse := f.dialDirect(t, "finesse")
	finesse.login("finesse", testUsers["finesse"])
	finesse.expect("from='finesse@"+testDomain+"/test'", 5*time.Second)
	first := f.s.proc

	f.s.Restart(t)
	// See Stop on why the stream error may not come.
	if got, err := finesse.readUntil("system-shutdown", 5*time.Second); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("the stream outlived the restart: %v; received %q", err, got)
	}
	select {
	case <-first.exited:
	default:
		t.Fatal("the first prosody still runs after Restart")
	}
	if f.s.StartTLSAddr != startTLS || f.s.DirectTLSAddr != directTLS || f.s.HTTPSAddr != https {
		t.Fatalf("ports moved: %s %s %s, were %s %s %s", f.s.StartTLSAddr, f.s.DirectTLSAddr, f.s.HTTPSAddr, startTLS, directTLS, https)
	}
	f.assertSharedPresence(t)

	// A stopped server restarts too, and Stop stops the new process.
	f.s.Stop()
	f.assertStopped(t)
	f.s.Restart(t)
	f.assertSharedPresence(t)
	f.s.Stop()
	f.s.Stop() // still idempotent
	f.assertStopped(t)
}

// assertSharedPresence logs finesse and the probe in afresh, which needs
// their passwords, and requires the probe to see finesse's presence.
func (f *fixture) assertSharedPresence(t *testing.T) {
	t.Helper()
	finesse := f.dialDirect(t, "finesse again")
	finesse.login("finesse", testUsers["finesse"])
	probe := f.dialDirect(t, "probe")
	probe.login("probe", testUsers["probe"])
	probe.expect("from='finesse@"+testDomain+"/test'", 5*time.Second)
}

// A port someone else holds when prosody comes back is waited for: the
// server cannot move, its clients reconnect to where it was.
func TestRestartWaitsForATakenPort(t *testing.T) {
	t.Run("direct TLS", func(t *testing.T) {
		testRestartWaitsForATakenPort(t, func(s *Server) string { return s.DirectTLSAddr })
	})
	t.Run("HTTPS", func(t *testing.T) {
		testRestartWaitsForATakenPort(t, func(s *Server) string { return s.HTTPSAddr })
	})
}

func testRestartWaitsForATakenPort(t *testing.T, port func(*Server) string) {
	f := startFixture(t)
	f.s.Stop()
	// Go listens with SO_REUSEADDR as prosody does, which still leaves
	// prosody no way to bind a port another socket listens on.
	squatter, err := net.Listen("tcp", port(f.s))
	if err != nil {
		t.Fatalf("take %s: %v", port(f.s), err)
	}
	const held = 1500 * time.Millisecond
	release := time.AfterFunc(held, func() { squatter.Close() })
	defer func() {
		release.Stop()
		squatter.Close()
	}()
	begun := time.Now()
	f.s.Restart(t)
	if took := time.Since(begun); took < held {
		t.Fatalf("restarted in %v although the port was held for %v", took, held)
	}
	f.assertSharedPresence(t)
	f.assertBOSH(t)
}

// TestSendXMPPLogsIn uses go-sendxmpp as an independent client: it must
// authenticate through both ports and its message must reach a user.
// Go's crypto/x509 reads SSL_CERT_FILE on Linux, which is how it is made to
// trust the test CA without -n (no verification).
func TestSendXMPPLogsIn(t *testing.T) {
	bin, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		t.Fatal("go-sendxmpp not installed: run scripts/install-integration-deps.sh")
	}
	f := startFixture(t)
	finesse := f.dialDirect(t, "finesse")
	finesse.login("finesse", testUsers["finesse"])

	run := func(password, addr string, directTLS bool, body string) error {
		// The password goes in a config file rather than argv.
		rc := filepath.Join(t.TempDir(), "sendxmpprc")
		cfg := "username: probe@" + testDomain + "\npassword: " + password + "\n"
		if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"-f", rc, "-j", addr, "--timeout", "10"}
		if directTLS {
			args = append(args, "-t")
		}
		args = append(args, "finesse@"+testDomain)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+f.caFile, "SSL_CERT_DIR="+t.TempDir())
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(err.Error() + ": " + strings.TrimSpace(string(out)))
		}
		return nil
	}

	if err := run(testUsers["probe"], f.s.StartTLSAddr, false, "via starttls"); err != nil {
		t.Fatalf("go-sendxmpp over STARTTLS: %v", err)
	}
	finesse.expect("via starttls</body>", 5*time.Second)
	if err := run(testUsers["probe"], f.s.DirectTLSAddr, true, "via direct tls"); err != nil {
		t.Fatalf("go-sendxmpp over direct TLS: %v", err)
	}
	finesse.expect("via direct tls</body>", 5*time.Second)
	if err := run("wrong", f.s.DirectTLSAddr, true, "must not arrive"); err == nil {
		t.Fatal("go-sendxmpp logged in with a wrong password")
	} else {
		t.Logf("wrong password rejected: %v", err)
	}
}

// --- XMPP over WebSocket (RFC 7395) and BOSH (XEP-0206) on HTTPSAddr ---

const (
	framingNS = "urn:ietf:params:xml:ns:xmpp-framing"
	wsOpen    = `<open xmlns="` + framingNS + `" to="` + testDomain + `" version="1.0"/>`
	wsClose   = `<close xmlns="` + framingNS + `"/>`
)

// wsConn is the WebSocket twin of conn: RFC 7395 puts one open, close or
// stanza in each text message, and expect skips messages until one holds
// the needle.
type wsConn struct {
	t    *testing.T
	name string
	c    *websocket.Conn
}

func (f *fixture) dialWS(t *testing.T, name string) *wsConn {
	t.Helper()
	d := websocket.Dialer{
		TLSClientConfig:  f.verified(),
		Subprotocols:     []string{finesse.WebSocketSubprotocol},
		HandshakeTimeout: 5 * time.Second,
	}
	c, resp, err := d.Dial("wss://"+f.s.HTTPSAddr+finesse.WebSocketPath, nil)
	if err != nil {
		t.Fatalf("%s: dial wss://%s%s: %v", name, f.s.HTTPSAddr, finesse.WebSocketPath, err)
	}
	t.Cleanup(func() { c.Close() })
	if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "xmpp" {
		t.Fatalf("%s: handshake answered %s with subprotocol %q", name, resp.Status, c.Subprotocol())
	}
	return &wsConn{t: t, name: name, c: c}
}

func (w *wsConn) send(s string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.t.Fatalf("%s: write: %v", w.name, err)
	}
}

// next returns the next message, or the error that ended the connection.
func (w *wsConn) next(timeout time.Duration) (string, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	typ, msg, err := w.c.ReadMessage()
	if err == nil && typ != websocket.TextMessage {
		return "", fmt.Errorf("message of type %d, RFC 7395 allows text only", typ)
	}
	return string(msg), err
}

// expect returns the first message holding needle.
func (w *wsConn) expect(needle string, timeout time.Duration) string {
	w.t.Helper()
	var skipped []string
	deadline := time.Now().Add(timeout)
	for {
		msg, err := w.next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("%s: waiting for %q: %v; received %q", w.name, needle, err, skipped)
		}
		if strings.Contains(msg, needle) {
			return msg
		}
		skipped = append(skipped, msg)
	}
}

// rest reads until the connection ends and returns the messages and the
// error that ended it.
func (w *wsConn) rest(timeout time.Duration) ([]string, error) {
	var msgs []string
	deadline := time.Now().Add(timeout)
	for {
		msg, err := w.next(time.Until(deadline))
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, msg)
	}
}

func plainAuth(user, password string) string {
	return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>"
}

// login opens the stream, checks that it is offered PLAIN, authenticates,
// restarts the stream and binds resource "test".
func (w *wsConn) login(user, password string) {
	w.t.Helper()
	w.send(wsOpen)
	open := w.expect("<open", 5*time.Second)
	if !strings.Contains(open, framingNS) || !strings.Contains(open, "from='"+testDomain+"'") {
		w.t.Fatalf("%s: not an RFC 7395 open from %s: %q", w.name, testDomain, open)
	}
	features := w.expect("<stream:features", 5*time.Second)
	if !strings.Contains(features, "<mechanism>PLAIN</mechanism>") {
		w.t.Fatalf("%s: PLAIN not offered over wss: %q", w.name, features)
	}
	if strings.Contains(features, "<starttls") {
		w.t.Fatalf("%s: STARTTLS offered inside a WebSocket: %q", w.name, features)
	}
	w.send(plainAuth(user, password))
	w.expect("<success", 5*time.Second)
	w.send(wsOpen) // the stream restart of RFC 7395 section 3.5
	w.expect("<open", 5*time.Second)
	features = w.expect("<stream:features", 5*time.Second)
	if !strings.Contains(features, "urn:ietf:params:xml:ns:xmpp-bind") {
		w.t.Fatalf("%s: no bind offered after SASL: %q", w.name, features)
	}
	w.send("<iq type='set' id='bind' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>test</resource></bind></iq>")
	bound := w.expect("id='bind'", 5*time.Second)
	if !strings.Contains(bound, "type='result'") || !strings.Contains(bound, "<jid>"+user+"@"+testDomain+"/test</jid>") {
		w.t.Fatalf("%s: bind failed: %q", w.name, bound)
	}
}

// mod_websocket is the independent peer the probe's WebSocket client is held
// against: open, features with PLAIN (the request came over TLS, so Prosody
// deems the session secure), SASL, stream restart, bind, and a close that the
// server answers with its own <close/> and a close frame 1000.
func TestWebSocketLogsInAndBinds(t *testing.T) {
	f := startFixture(t)
	w := f.dialWS(t, "ws")
	w.login("probe", testUsers["probe"])
	w.send(wsClose)
	msgs, err := w.rest(5 * time.Second)
	if len(msgs) != 1 || msgs[0] != "<close xmlns='"+framingNS+"'/>" {
		t.Fatalf("want the server's <close/> alone, got %q", msgs)
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want a close frame 1000 after <close/>, got %v", err)
	}
}

// A wrong password gets a SASL <failure> with <not-authorized/> and a text;
// the stream stays open and a second attempt on it may succeed.
func TestWebSocketWrongPasswordGetsNotAuthorizedAndStreamStaysOpen(t *testing.T) {
	f := startFixture(t)
	w := f.dialWS(t, "ws")
	w.send(wsOpen)
	w.expect("<mechanism>PLAIN</mechanism>", 5*time.Second)
	w.send(plainAuth("probe", "wrong"))
	failure := w.expect("<failure", 5*time.Second)
	const want = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>"
	if !strings.HasPrefix(failure, want) {
		t.Fatalf("want %s..., got %q", want, failure)
	}
	t.Logf("wrong password: %s", failure)
	w.send(plainAuth("probe", testUsers["probe"]))
	if got := w.expect("<", 5*time.Second); got != "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" {
		t.Fatalf("retry with the right password on the same stream: %q", got)
	}
}

// An open to a domain the server does not serve is answered with an open
// from that very domain, a host-unknown stream error, <close/> and a close
// frame 1000.
func TestWebSocketUnknownDomainGetsHostUnknownThenClose(t *testing.T) {
	f := startFixture(t)
	w := f.dialWS(t, "ws")
	w.send(`<open xmlns="` + framingNS + `" to="elsewhere.test" version="1.0"/>`)
	msgs, err := w.rest(5 * time.Second)
	t.Logf("wrong domain: %q, then %v", msgs, err)
	if len(msgs) != 3 ||
		!strings.HasPrefix(msgs[0], "<open ") || !strings.Contains(msgs[0], "from='elsewhere.test'") ||
		!strings.HasPrefix(msgs[1], "<stream:error") || !strings.Contains(msgs[1], "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") ||
		msgs[2] != "<close xmlns='"+framingNS+"'/>" {
		t.Fatalf("want <open/>, <stream:error><host-unknown/>, <close/>; got %q", msgs)
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want a close frame 1000, got %v", err)
	}
}

// On Stop a settled WebSocket session gets a system-shutdown stream error,
// <close/> and a close frame 1000 ("Stream closed"). A SIGTERM that lands
// right after the server's last stanza (no pause here) was seen, every time,
// to lose all three: the client reads EOF without a close frame (gorilla
// reports 1006), the same 0.12 quirk as on c2s (see Stop).
func TestWebSocketStopSendsSystemShutdownCloseAndCloseFrame(t *testing.T) {
	f := startFixture(t)
	w := f.dialWS(t, "ws")
	w.login("probe", testUsers["probe"])
	time.Sleep(300 * time.Millisecond)
	go f.s.Stop()
	msgs, err := w.rest(15 * time.Second)
	t.Logf("on Stop: %q, then %v", msgs, err)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "<stream:error") ||
		!strings.Contains(msgs[0], "<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") ||
		msgs[1] != "<close xmlns='"+framingNS+"'/>" {
		t.Fatalf("want <stream:error><system-shutdown/> and <close/>, got %q", msgs)
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want a close frame 1000, got %v", err)
	}
	f.s.Stop()
	f.assertStopped(t)
}

// boshClient trusts the test CA only, as the probe does.
func (f *fixture) boshClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: f.verified()}}
}

// bosh posts one XEP-0124 body and returns the response's status and body.
func (f *fixture) bosh(t *testing.T, body string) (int, string) {
	t.Helper()
	client := f.boshClient()
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+f.s.HTTPSAddr+finesse.BOSHPath, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatalf("BOSH POST: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("BOSH POST: reading the response: %v", err)
	}
	return resp.StatusCode, string(got)
}

var sidAttr = regexp.MustCompile(`\bsid=['"]([^'"]+)['"]`)

// assertBOSH creates a session (XEP-0206), which must answer with a sid and
// stream features offering PLAIN, and terminates it.
func (f *fixture) assertBOSH(t *testing.T) {
	t.Helper()
	code, body := f.bosh(t, `<body content="text/xml; charset=utf-8" hold="1" rid="1573741820" to="`+testDomain+
		`" ver="1.6" wait="60" xml:lang="en" xmpp:version="1.0" xmlns="http://jabber.org/protocol/httpbind" xmlns:xmpp="urn:xmpp:xbosh"/>`)
	m := sidAttr.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("BOSH session creation: %d without sid: %q", code, body)
	}
	if !strings.Contains(body, "<mechanism>PLAIN</mechanism>") || !strings.Contains(body, "secure='true'") {
		t.Fatalf("BOSH session creation: not secure or PLAIN not offered: %q", body)
	}
	code, body = f.bosh(t, `<body rid="1573741821" sid="`+m[1]+`" type="terminate" xmlns="http://jabber.org/protocol/httpbind"/>`)
	if code != http.StatusOK || !strings.Contains(body, "type='terminate'") {
		t.Fatalf("BOSH terminate: %d %q", code, body)
	}
}

func TestBOSHSessionOffersPLAINAndTerminates(t *testing.T) {
	f := startFixture(t)
	f.assertBOSH(t)
}

// WebSocket and BOSH come back on the same address after a Restart, and a
// WebSocket connected across it is ended.
func TestRestartKeepsWebSocketAndBOSH(t *testing.T) {
	f := startFixture(t)
	addr := f.s.HTTPSAddr
	w := f.dialWS(t, "ws")
	w.login("probe", testUsers["probe"])
	f.s.Restart(t)
	// Ended cleanly (1000) or, right after a stanza as here, by EOF (1006,
	// gorilla's name for a connection that ends without a close frame).
	if msgs, err := w.rest(5 * time.Second); !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseAbnormalClosure) {
		t.Fatalf("the WebSocket outlived the restart: %q, %v", msgs, err)
	}
	if f.s.HTTPSAddr != addr {
		t.Fatalf("HTTPS moved to %s from %s", f.s.HTTPSAddr, addr)
	}
	f.dialWS(t, "ws again").login("finesse", testUsers["finesse"])
	f.assertBOSH(t)
}

// What Prosody answers on the HTTPS port. Unknown paths, and methods an
// endpoint does not route (POST to /ws/), get 404: that is what "absent"
// looks like. Both endpoints answer a plain GET with 200 and an HTML page,
// with or without the trailing slash, and so does / ("Prosody is running!").
func TestHTTPSStatusCodes(t *testing.T) {
	f := startFixture(t)
	client := f.boshClient()
	defer client.CloseIdleConnections()
	for _, c := range []struct {
		method, path string
		want         int
		title        string
	}{
		{"GET", "/ws/", 200, "Prosody WebSocket endpoint"},
		{"GET", "/ws", 200, "Prosody WebSocket endpoint"},
		{"HEAD", "/ws/", 200, ""},
		{"GET", "/http-bind/", 200, "Prosody BOSH endpoint"},
		{"GET", "/http-bind", 200, "Prosody BOSH endpoint"},
		{"GET", "/", 200, "Prosody is running!"},
		{"GET", "/nonexistent", 404, "404 Not Found"},
		{"GET", "/ws/x", 404, "404 Not Found"},
		{"POST", "/ws/", 404, "404 Not Found"},
	} {
		req, err := http.NewRequest(c.method, "https://"+f.s.HTTPSAddr+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(body), c.title) {
			t.Errorf("%s %s: %s %q, want %d with %q", c.method, c.path, resp.Status, body, c.want, c.title)
		}
	}
	// WebSocket upgrades that are refused: without the xmpp subprotocol 501,
	// at the BOSH path the GET page (200), at an unknown path 404.
	for _, c := range []struct {
		path  string
		proto []string
		want  int
	}{
		{"/ws/", nil, 501},
		{"/ws/", []string{"other"}, 501},
		{"/http-bind/", []string{"xmpp"}, 200},
		{"/nonexistent", []string{"xmpp"}, 404},
	} {
		d := websocket.Dialer{TLSClientConfig: f.verified(), Subprotocols: c.proto, HandshakeTimeout: 5 * time.Second}
		conn, resp, err := d.Dial("wss://"+f.s.HTTPSAddr+c.path, nil)
		if conn != nil {
			conn.Close()
		}
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != c.want {
			status := "no response"
			if resp != nil {
				status = resp.Status
			}
			t.Errorf("upgrade at %s with %q: %s, %v; want %d", c.path, c.proto, status, err, c.want)
		}
	}
}
