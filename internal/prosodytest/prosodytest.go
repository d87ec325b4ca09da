// Package prosodytest runs a throwaway Prosody XMPP server that stands in for
// the Cisco Finesse Notification Service (Openfire) in integration tests: a
// client-to-server port offering STARTTLS (Finesse's 5222), a direct-TLS port
// (Finesse's 5223), XMPP over WebSocket (RFC 7395, mod_websocket) and BOSH
// (XEP-0206, mod_bosh) over HTTPS at Finesse's paths /ws/ and /http-bind/
// (Finesse's 7443), a shared roster group so that the 'finesse' user and the
// probe see each other's presence, and a pubsub component.
//
// Prosody is started in the foreground as a child of the test process, bound
// to 127.0.0.1 on random ports, with every other listener (s2s, plain HTTP,
// components) turned off, so tests never reach the network.
package prosodytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/pki"
)

const (
	startTimeout = 20 * time.Second
	stopTimeout  = 10 * time.Second
	// Ports are picked by binding and closing, so another process can take
	// one before Prosody binds it; a few fresh attempts make that harmless.
	startAttempts = 3
	// restartRetryPause spaces a Restart's attempts to bind the same ports.
	restartRetryPause = 100 * time.Millisecond
	logTailLines      = 60
)

// Config describes one throwaway Prosody that behaves like a Finesse
// Notification Service.
type Config struct {
	Domain string // XMPP domain, e.g. "finesse.test"; pubsub component at "pubsub."+Domain
	// CertFile and KeyFile are the PEM certificate every port presents and
	// its key. Left both empty, Start issues one for 127.0.0.1, localhost
	// and Domain from a CA of its own, Server.CA.
	CertFile string
	KeyFile  string
	Users    map[string]string // localpart -> password, registered before start
	// RosterGroup lists localparts that are in each other's roster with
	// subscription=both, so each receives the others' presence.
	RosterGroup []string
}

// Server is a running Prosody. Its exported fields describe where to reach it;
// they stay the same across a Restart.
type Server struct {
	Domain        string
	StartTLSAddr  string  // "127.0.0.1:PORT", plain c2s offering STARTTLS
	DirectTLSAddr string  // "127.0.0.1:PORT", c2s with TLS from the first byte (XEP-0368)
	HTTPSAddr     string  // "127.0.0.1:PORT": XMPP over WebSocket at /ws/ and BOSH at /http-bind/
	CA            *pki.CA // issued the certificate when Config named none; nil otherwise

	dir        string
	prosodyBin string
	leaf       []byte // the certificate every port must present

	mu   sync.Mutex
	proc *process // the latest prosody started; nil before the first
}

// process is one run of prosody. A Restart starts a new one, so that each
// has its own exit and its own Stop.
type process struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	// logStart is the log's size when this process started: the lines that
	// follow are its own, as prosody appends to the log of earlier runs.
	logStart int64
}

// errPortTaken marks a start that lost a port race and is worth retrying.
var errPortTaken = errors.New("a listening port was taken before prosody could bind it")

// Start writes a config into t.TempDir(), registers the users, starts
// prosody in the foreground, waits until all three ports serve this server, and
// registers t.Cleanup(s.Stop).
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	prosodyBin, err1 := exec.LookPath("prosody")
	ctlBin, err2 := exec.LookPath("prosodyctl")
	if err1 != nil || err2 != nil {
		t.Fatal("prosody not installed: run scripts/install-integration-deps.sh")
	}
	if err := validate(cfg); err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	var ca *pki.CA
	if cfg.CertFile == "" {
		var err error
		if ca, cfg.CertFile, cfg.KeyFile, err = issue(t.TempDir(), cfg.Domain); err != nil {
			t.Fatalf("prosodytest: %v", err)
		}
	}
	var err error
	// Prosody changes into its data directory, so relative paths would break.
	if cfg.CertFile, err = filepath.Abs(cfg.CertFile); err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	if cfg.KeyFile, err = filepath.Abs(cfg.KeyFile); err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	leaf, err := firstCertificate(cfg.CertFile)
	if err != nil {
		t.Fatalf("prosodytest: %v", err)
	}

	base := t.TempDir()
	for attempt := 1; ; attempt++ {
		s := &Server{Domain: cfg.Domain, CA: ca, dir: filepath.Join(base, fmt.Sprintf("run%d", attempt)), prosodyBin: prosodyBin, leaf: leaf}
		begun := time.Now()
		err := s.start(t, ctlBin, cfg)
		if err == nil {
			t.Logf("prosody ready in %v: starttls %s, direct tls %s, https %s, log %s",
				time.Since(begun).Round(time.Millisecond), s.StartTLSAddr, s.DirectTLSAddr, s.HTTPSAddr, s.logPath())
			return s
		}
		s.Stop()
		if errors.Is(err, errPortTaken) && attempt < startAttempts {
			t.Logf("prosodytest: attempt %d: %v; retrying on new ports", attempt, err)
			continue
		}
		t.Fatalf("prosodytest: %v\n%s", err, s.LogTail())
	}
}

func (s *Server) start(t testing.TB, ctlBin string, cfg Config) error {
	for _, d := range []string{s.dir, s.dataDir(), s.certsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	s.StartTLSAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[0]))
	s.DirectTLSAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[1]))
	s.HTTPSAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[2]))

	var groupsFile string
	if len(cfg.RosterGroup) > 0 {
		groupsFile = filepath.Join(s.dir, "groups.txt")
		if err := os.WriteFile(groupsFile, []byte(renderGroups(cfg)), 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.configPath(), []byte(s.renderConfig(cfg, ports, groupsFile)), 0o600); err != nil {
		return err
	}
	if err := s.registerUsers(ctlBin, cfg.Users); err != nil {
		return err
	}

	// Registered before starting so that a t.Fatal from here on, or a panic
	// in the caller, still stops the process, and whichever a Restart
	// started after it: Stop stops the latest.
	t.Cleanup(s.Stop)
	return s.launch(time.Now().Add(startTimeout))
}

// launch starts prosody on the configuration already written and waits
// until it serves all its ports, or until deadline.
func (s *Server) launch(deadline time.Time) error {
	p := &process{exited: make(chan struct{})}
	if fi, err := os.Stat(s.logPath()); err == nil {
		p.logStart = fi.Size()
	}
	// Appended to, so that after a Restart LogTail still shows how the
	// previous run ended.
	out, err := os.OpenFile(s.outPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child holds its own descriptor
	p.cmd = exec.Command(s.prosodyBin, "-F", "--config", s.configPath())
	p.cmd.Dir = s.dir
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = parentDeathSignal()
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start prosody: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return s.waitReady(p, deadline)
}

// Restart stops prosody if it runs and starts it again with the same
// configuration, data (users, rosters) and ports, so that clients
// reconnecting to StartTLSAddr, DirectTLSAddr and HTTPSAddr find it again.
// It returns once all ports serve, and fails t if prosody cannot bind them within
// startTimeout. Stop, and the cleanup Start registered, stop the new
// process. Restart must not run concurrently with Stop or Restart.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	stopping := time.Now()
	s.Stop()
	// Prosody binds with SO_REUSEADDR (LuaSocket's socket.bind sets it), so
	// the TIME_WAIT connections the stopped server leaves do not keep it
	// off its ports. What can is another socket that took a port meanwhile:
	// the ports came from the ephemeral range, from which the kernel also
	// picks the local port of any outgoing connection. Such a socket goes
	// away by itself, and the ports cannot change (clients must find the
	// server where it was), so binding is retried on the same ports for a
	// bounded time rather than on new ones as Start does.
	begun := time.Now()
	deadline := begun.Add(startTimeout)
	s.appendLog("prosodytest: restarting on " + s.StartTLSAddr + ", " + s.DirectTLSAddr + " and " + s.HTTPSAddr)
	for attempt := 1; ; attempt++ {
		err := s.launch(deadline)
		if err == nil {
			t.Logf("prosody stopped in %v and restarted in %v (attempt %d) on the same ports",
				begun.Sub(stopping).Round(time.Millisecond), time.Since(begun).Round(time.Millisecond), attempt)
			return
		}
		s.Stop()
		if errors.Is(err, errPortTaken) && time.Now().Before(deadline) {
			time.Sleep(restartRetryPause)
			continue
		}
		t.Fatalf("prosodytest: restart, attempt %d after %v: %v\n%s", attempt, time.Since(begun).Round(time.Millisecond), err, s.LogTail())
	}
}

// appendLog writes a line of the harness's own into prosody's log, so that
// LogTail shows where one run ends and the next begins.
func (s *Server) appendLog(line string) {
	f, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintf(f, "%s %s\n", time.Now().Format("Jan 02 15:04:05"), line)
}

// registerUsers feeds passwords on stdin (prosodyctl adduser asks twice) so
// that they never show up in a process listing.
func (s *Server) registerUsers(ctlBin string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		pw := users[u]
		// Bounded like the start itself, so a wedged prosodyctl fails the test
		// instead of hanging it.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		cmd := exec.CommandContext(ctx, ctlBin, "--config", s.configPath(), "adduser", u+"@"+s.Domain)
		cmd.Dir = s.dir
		cmd.Stdin = strings.NewReader(pw + "\n" + pw + "\n")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("prosodyctl adduser %s@%s: %v\n%s", u, s.Domain, err, out)
		}
	}
	return nil
}

// waitReady polls until the STARTTLS port speaks XMPP for our domain, the
// direct-TLS port presents our certificate and does too, and the HTTPS port
// presents it and serves BOSH and WebSocket. A bare TCP connect is not enough:
// the kernel accepts connections as soon as Prosody binds, before its event
// loop runs, and a port stolen by another process would accept them too.
func (s *Server) waitReady(p *process, deadline time.Time) error {
	begun := time.Now()
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("prosody exited during startup: %v", p.waitErr)
		default:
		}
		if s.logContains(p.logStart, "Failed to open server port") {
			return errPortTaken
		}
		last = s.checkStartTLS()
		if last == nil {
			last = s.checkDirectTLS(s.leaf)
		}
		if last == nil {
			last = s.checkHTTPS(s.leaf)
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prosody not ready after %v: %v", time.Since(begun).Round(time.Millisecond), last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) checkStartTLS() error {
	conn, err := net.DialTimeout("tcp", s.StartTLSAddr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	features, err := exchangeHeaders(conn, s.Domain)
	if err != nil {
		return fmt.Errorf("%s: %w", s.StartTLSAddr, err)
	}
	if !strings.Contains(features, "<starttls") {
		return fmt.Errorf("%s: %w (features without starttls: %s)", s.StartTLSAddr, errPortTaken, features)
	}
	return nil
}

func (s *Server) checkDirectTLS(leaf []byte) error {
	conn, err := dialLeaf(s.DirectTLSAddr, leaf)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := exchangeHeaders(conn, s.Domain); err != nil {
		return fmt.Errorf("%s: %w", s.DirectTLSAddr, err)
	}
	return nil
}

// dialLeaf connects with TLS to addr and requires it to present leaf. The
// harness does not know the CA; comparing the presented certificate with
// CertFile proves both that TLS works and that it is our server.
func dialLeaf(addr string, leaf []byte) (*tls.Conn, error) {
	conf := &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errPortTaken
			}
			return nil
		},
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, conf)
	if err != nil {
		if errors.Is(err, errPortTaken) {
			return nil, fmt.Errorf("%s: %w (it presents another certificate)", addr, errPortTaken)
		}
		return nil, err
	}
	return conn, nil
}

// checkHTTPS requires the HTTPS port to present our certificate and both
// endpoints to answer a plain GET with their "It works" page: Prosody routes
// requests only once mod_http has registered them, so a 404 means not yet.
func (s *Server) checkHTTPS(leaf []byte) error {
	conn, err := dialLeaf(s.HTTPSAddr, leaf)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(conn)
	for _, path := range []string{finesse.BOSHPath, finesse.WebSocketPath} {
		req, err := http.NewRequest(http.MethodGet, "https://"+s.HTTPSAddr+path, nil)
		if err != nil {
			return err
		}
		if err := req.Write(conn); err != nil {
			return fmt.Errorf("%s: %w", s.HTTPSAddr, err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return fmt.Errorf("%s: GET %s: %w", s.HTTPSAddr, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: GET %s: %s", s.HTTPSAddr, path, resp.Status)
		}
	}
	return nil
}

// exchangeHeaders opens a client stream and returns the server's reply up to
// the end of its stream features, then closes the stream politely so the log
// is not littered with read errors.
func exchangeHeaders(conn net.Conn, domain string) (string, error) {
	header := "<?xml version='1.0'?><stream:stream to='" + domain +
		"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	if _, err := conn.Write([]byte(header)); err != nil {
		return "", err
	}
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("</stream:features>")) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return string(got), fmt.Errorf("reading stream features: %w (got %q)", err, got)
		}
	}
	// Waiting for the server to hang up first keeps a half-closed connection
	// from holding up a Stop that follows at once by a second.
	if _, err := conn.Write([]byte("</stream:stream>")); err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, conn)
	}
	return string(got), nil
}

// Stop terminates prosody (SIGTERM, then SIGKILL after a bounded wait) and
// waits for it. It is idempotent and safe to call from several goroutines.
// After a Restart it stops the process the Restart started.
//
// Prosody closes its listeners, then each client stream, usually with a
// system-shutdown stream error; a WebSocket gets that error, <close/> and a
// close frame 1000. Not always: Prosody 0.12 was seen to lose all of it,
// sending only TLS close_notify (a WebSocket then ends without a close
// frame), when SIGTERM came while it was still busy with the client's last
// stanza, so a test must accept a stream that simply ends.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

func (p *process) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = p.cmd.Process.Kill()
		}
		// Prosody handles signals from a Lua hook, so a SIGTERM landing just
		// before it blocks in epoll_wait can sit unhandled until the next
		// timer. Repeating it is harmless (shutdown simply runs again) and
		// wakes such a loop long before the SIGKILL deadline.
		nudge := time.NewTicker(2 * time.Second)
		defer nudge.Stop()
		kill := time.After(stopTimeout)
		for {
			select {
			case <-p.exited:
				return
			case <-nudge.C:
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
			case <-kill:
				_ = p.cmd.Process.Kill()
				<-p.exited
				return
			}
		}
	})
}

// LogTail returns the last lines of prosody's log, and anything it printed
// on stdout or stderr (errors from before logging starts land there).
func (s *Server) LogTail() string {
	var b strings.Builder
	if out, err := os.ReadFile(s.outPath()); err == nil && len(bytes.TrimSpace(out)) > 0 {
		fmt.Fprintf(&b, "--- prosody stdout/stderr ---\n%s\n", tail(out, logTailLines))
	}
	log, err := os.ReadFile(s.logPath())
	if err != nil {
		fmt.Fprintf(&b, "--- no prosody log: %v ---\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "--- %s (last %d lines) ---\n%s\n", s.logPath(), logTailLines, tail(log, logTailLines))
	return b.String()
}

func tail(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logContains tells whether the log holds needle after its first from bytes.
func (s *Server) logContains(from int64, needle string) bool {
	data, err := os.ReadFile(s.logPath())
	return err == nil && int64(len(data)) >= from && bytes.Contains(data[from:], []byte(needle))
}

func (s *Server) configPath() string { return filepath.Join(s.dir, "prosody.cfg.lua") }
func (s *Server) logPath() string    { return filepath.Join(s.dir, "prosody.log") }
func (s *Server) outPath() string    { return filepath.Join(s.dir, "prosody.out") }
func (s *Server) dataDir() string    { return filepath.Join(s.dir, "data") }
func (s *Server) certsDir() string   { return filepath.Join(s.dir, "certs") }

func (s *Server) renderConfig(cfg Config, ports []int, groupsFile string) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	q := luaString
	line("-- Written by internal/prosodytest for one test; not for production.")
	line("")
	line("-- CI runs tests as root, where mod_posix would otherwise refuse to start")
	line("-- and prosodyctl would switch to the 'prosody' user, which cannot read t.TempDir().")
	line("run_as_root = true")
	line("data_path = %s", q(s.dataDir()))
	line("-- An empty directory, so that nothing is picked up from /etc/prosody/certs.")
	line("certificates = %s", q(s.certsDir()))
	line("log = { { levels = { min = \"debug\" }, to = \"file\", filename = %s } }", q(s.logPath()))
	line("")
	line("interfaces = { \"127.0.0.1\" }")
	line("local_interfaces = { \"127.0.0.1\" }")
	line("c2s_ports = { %d }", ports[0])
	line("c2s_direct_tls_ports = { %d }", ports[1])
	line("-- XMPP over WebSocket and BOSH, over HTTPS only, at Finesse's paths.")
	line("https_ports = { %d }", ports[2])
	line("https_interfaces = { \"127.0.0.1\" }")
	line("https_ssl = { certificate = %s, key = %s }", q(cfg.CertFile), q(cfg.KeyFile))
	line("http_paths = { websocket = %s, bosh = %s }", q(finesse.WebSocketPath), q(finesse.BOSHPath))
	line("-- Requests for 127.0.0.1:PORT carry no VirtualHost's name; they go to this one.")
	line("http_default_host = %s", q(cfg.Domain))
	line("-- No consider_websocket_secure or consider_bosh_secure: the requests come over")
	line("-- TLS, so Prosody deems the sessions secure and offers SASL PLAIN by itself.")
	line("-- Every other listener off: no extra ports, nothing that could reach the network.")
	line("http_interfaces = { }")
	for _, p := range []string{"legacy_ssl", "s2s", "s2s_direct_tls", "component", "http"} {
		line("%s_ports = { }", p)
	}
	line("modules_disabled = { \"s2s\", \"s2s_auth_certs\" }")
	line("")
	enabled := []string{"roster", "saslauth", "tls", "disco", "ping", "websocket", "bosh"}
	if groupsFile != "" {
		enabled = append(enabled, "groups")
		line("groups_file = %s", q(groupsFile))
	}
	quoted := make([]string, len(enabled))
	for i, m := range enabled {
		quoted[i] = q(m)
	}
	line("modules_enabled = { %s }", strings.Join(quoted, ", "))
	line("")
	line("-- Clients must encrypt before authenticating: SASL, PLAIN included, is offered only after TLS.")
	line("authentication = \"internal_hashed\"")
	line("c2s_require_encryption = true")
	line("allow_registration = false")
	line("-- On SIGTERM Prosody waits c2s_close_timeout+1 s (default 6) for sessions whose")
	line("-- clients have gone without closing their stream; a test's Stop need not.")
	line("c2s_close_timeout = 1")
	line("-- The global ssl block is what the direct-TLS port serves to clients that")
	line("-- send no SNI, such as Go dialling an IP address.")
	line("ssl = { certificate = %s, key = %s }", q(cfg.CertFile), q(cfg.KeyFile))
	line("")
	line("VirtualHost %s", q(cfg.Domain))
	line("ssl = { certificate = %s, key = %s }", q(cfg.CertFile), q(cfg.KeyFile))
	line("")
	line("Component %s \"pubsub\"", q("pubsub."+cfg.Domain))
	return b.String()
}

// renderGroups writes a mod_groups file: one group whose members all get each
// other with subscription=both, like Finesse's shared roster.
func renderGroups(cfg Config) string {
	var b strings.Builder
	b.WriteString("[Finesse]\n")
	for _, u := range cfg.RosterGroup {
		fmt.Fprintf(&b, "%s@%s=%s\n", u, cfg.Domain, u)
	}
	return b.String()
}

// luaString quotes s as a Lua string literal. Decimal escapes are used for
// control bytes because Go's \u and \x forms are not all valid Lua 5.4.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// issue makes a CA and a certificate for the server's names in dir.
func issue(dir, domain string) (ca *pki.CA, certFile, keyFile string, err error) {
	if ca, err = pki.NewCA("prosodytest CA", 24*time.Hour); err != nil {
		return nil, "", "", err
	}
	leaf, err := ca.Issue([]string{"127.0.0.1", "localhost", domain}, time.Time{})
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	return ca, certFile, keyFile, leaf.WriteFiles(certFile, keyFile)
}

func validate(cfg Config) error {
	if cfg.Domain == "" || strings.ContainsAny(cfg.Domain, "@/ \t\r\n'\"<>&") {
		return fmt.Errorf("invalid Domain %q", cfg.Domain)
	}
	if strings.ToLower(cfg.Domain) != cfg.Domain {
		// Prosody lowercases JIDs, so a mixed-case domain would not match
		// the users registered under it.
		return fmt.Errorf("domain %q must be lower case", cfg.Domain)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return errors.New("CertFile and KeyFile go together")
	}
	checkLocal := func(u string) error {
		if u == "" || strings.ContainsAny(u, "@/ \t\r\n'\"<>&:=[]") || strings.ToLower(u) != u {
			return fmt.Errorf("invalid localpart %q (lower case, no spaces or JID separators)", u)
		}
		return nil
	}
	for u, pw := range cfg.Users {
		if err := checkLocal(u); err != nil {
			return err
		}
		// Passwords go to prosodyctl one per line.
		if pw == "" || strings.ContainsAny(pw, "\r\n") {
			return fmt.Errorf("password of %q must be non-empty and one line", u)
		}
	}
	for _, u := range cfg.RosterGroup {
		if err := checkLocal(u); err != nil {
			return err
		}
	}
	return nil
}

func firstCertificate(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CertFile: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("CertFile %s: no PEM certificate", path)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("CertFile %s: %w", path, err)
	}
	return block.Bytes, nil
}

// freePorts returns n distinct ports that were free a moment ago. All are
// held open until the end so the same port cannot be handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// parentDeathSignal asks the kernel to kill prosody if the test process dies
// without running its cleanups (a go test -timeout panic, a SIGKILL), so no
// orphaned server outlives the test. Pdeathsig exists only on Linux; it is set
// by reflection so that the package still builds everywhere else.
func parentDeathSignal() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	field := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	kill := reflect.ValueOf(os.Kill)
	if field.IsValid() && field.CanSet() && kill.Type().AssignableTo(field.Type()) {
		field.Set(kill)
	}
	return attr
}
