//go:build integration

package prosodytest

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// assertStopped fails t unless the latest prosody has exited and neither
// port accepts connections.
func (f *fixture) assertStopped(t *testing.T) {
	t.Helper()
	select {
	case <-f.s.proc.exited:
	default:
		t.Fatal("Stop returned before prosody exited")
	}
	for _, addr := range []string{f.s.StartTLSAddr, f.s.DirectTLSAddr} {
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
	startTLS, directTLS := f.s.StartTLSAddr, f.s.DirectTLSAddr
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
	if f.s.StartTLSAddr != startTLS || f.s.DirectTLSAddr != directTLS {
		t.Fatalf("ports moved: %s %s, were %s %s", f.s.StartTLSAddr, f.s.DirectTLSAddr, startTLS, directTLS)
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
	f := startFixture(t)
	f.s.Stop()
	// Go listens with SO_REUSEADDR as prosody does, which still leaves
	// prosody no way to bind a port another socket listens on.
	squatter, err := net.Listen("tcp", f.s.DirectTLSAddr)
	if err != nil {
		t.Fatalf("take %s: %v", f.s.DirectTLSAddr, err)
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
