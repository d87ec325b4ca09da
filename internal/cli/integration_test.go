//go:build integration

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/prosodytest"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// These tests run 'finessectl check' through its real command path against a
// real Prosody configured like a Finesse Notification Service, with a TLS
// SystemInfo server in front, and require every exit code of the contract.

const (
	domain      = "finesse.test"
	probePass   = "probe-pw-1"
	finessePass = "finesse-pw-1"
)

type lab struct {
	prosody    *prosodytest.Server
	caFile     string // trusts the lab CA only
	otherCA    string // trusts a CA that signed nothing in the lab
	leaf       *pki.Leaf
	otherLeaf  *pki.Leaf // from the other CA, for the SystemInfo server in the XMPP TLS case
	systemInfo atomic.Value
}

type reply struct {
	status int
	body   string
}

func inServiceBody(status string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><SystemInfo><currentTimestamp>2026-11-22T02:00:00.000Z</currentTimestamp>` +
		`<deploymentType>UCCE</deploymentType><lastCTIHeartbeatStatus>success</lastCTIHeartbeatStatus>` +
		`<primaryNode><host>` + domain + `</host></primaryNode><status>` + status + `</status>` +
		`<statusReason></statusReason><xmppDomain>` + domain + `</xmppDomain><xmppPubSubDomain>pubsub.` + domain +
		`</xmppPubSubDomain></SystemInfo>`
}

func newLab(t *testing.T) *lab {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("finessectl lab CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("finessectl other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{caFile: filepath.Join(dir, "ca.pem"), otherCA: filepath.Join(dir, "other-ca.pem")}
	if l.leaf, err = ca.Issue([]string{"127.0.0.1", "localhost", domain}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if l.otherLeaf, err = other.Issue([]string{"127.0.0.1", "localhost"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCertFile(l.caFile); err != nil {
		t.Fatal(err)
	}
	if err := other.WriteCertFile(l.otherCA); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := l.leaf.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	l.prosody = prosodytest.Start(t, prosodytest.Config{
		Domain: domain, CertFile: certFile, KeyFile: keyFile,
		Users:       map[string]string{"finesse": finessePass, "probe": probePass, "loner": probePass},
		RosterGroup: []string{"finesse", "probe"},
	})
	l.systemInfo.Store(reply{200, inServiceBody("IN_SERVICE")})
	return l
}

// systemInfoServer serves the lab's current SystemInfo reply with leaf.
func (l *lab) systemInfoServer(t *testing.T, leaf *pki.Leaf) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := l.systemInfo.Load().(reply)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// finesseOnline logs the 'finesse' user in, as Finesse Tomcat does, until stop.
func (l *lab) finesseOnline(t *testing.T) (stop func()) {
	t.Helper()
	_, stop = l.finesseSession(t)
	return stop
}

// finesseSession is finesseOnline that also returns the session, through
// which a test sees what the 'finesse' user receives, until stop.
func (l *lab) finesseSession(t *testing.T) (s *xmppprobe.Session, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s = xmppprobe.New(xmppprobe.Config{Addr: l.prosody.DirectTLSAddr, Domain: domain, TLS: clientTLS(t, l.caFile)})
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("finesse user: %v\n%s", err, l.prosody.LogTail())
	}
	if err := s.Login(ctx, "finesse", finessePass, "tomcat"); err != nil {
		t.Fatalf("finesse user login: %v\n%s", err, l.prosody.LogTail())
	}
	var once atomic.Bool
	stop = func() {
		if once.CompareAndSwap(false, true) {
			s.Close()
			time.Sleep(200 * time.Millisecond) // let Prosody process the departure
		}
	}
	t.Cleanup(stop)
	return s, stop
}

type run struct {
	code   int
	stdout string
	stderr string
	report struct {
		ExitCode int `json:"exit_code"`
		Servers  []struct {
			ExitCode int `json:"exit_code"`
			Checks   []struct {
				Name, Status, Message string
			} `json:"checks"`
		} `json:"servers"`
	}
}

func checkCmd(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	tio := newTestIO(env, "")
	var r run
	r.code = Main(context.Background(), append([]string{"check", "-o", "json"}, args...), tio.ios, "test")
	r.stdout, r.stderr = tio.out.String(), tio.errOut.String()
	if r.code < 64 {
		if err := json.Unmarshal(tio.out.Bytes(), &r.report); err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.stdout)
		}
		if r.report.ExitCode != r.code {
			t.Fatalf("JSON exit_code %d differs from the exit status %d", r.report.ExitCode, r.code)
		}
	}
	return r
}

func TestIntegrationExitCodes(t *testing.T) {
	l := newLab(t)
	goodHTTPS := l.systemInfoServer(t, l.leaf)
	otherHTTPS := l.systemInfoServer(t, l.otherLeaf)
	closed := nettest.Refused(t)
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": probePass}
	wrongPW := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "not-the-password"}
	loner := map[string]string{"FINESSE_USER": "loner", "FINESSE_PASSWORD": probePass}
	stopFinesse := l.finesseOnline(t)

	modes := labTransports(l)
	type tcase struct {
		name   string
		env    map[string]string
		server string
		ca     string
		si     reply
		want   int
		msgHas string
	}
	for _, m := range modes {
		cases := []tcase{
			{name: "healthy", env: creds, server: goodHTTPS, want: 0, msgHas: "is AVAILABLE"},
			{name: "refused https", env: creds, server: closed, want: 10, msgHas: "refused"},
			{name: "untrusted https", env: creds, server: goodHTTPS, ca: l.otherCA, want: 11, msgHas: "certificate"},
			{name: "out of service", env: creds, server: goodHTTPS, si: reply{200, inServiceBody("OUT_OF_SERVICE")}, want: 12, msgHas: "OUT_OF_SERVICE"},
			{name: "503", env: creds, server: goodHTTPS, si: reply{503, `<ApiErrors><ApiError><ErrorType>Service Unavailable</ErrorType><ErrorData></ErrorData><ErrorMessage>SERVER_OUT_OF_SERVICE</ErrorMessage></ApiError></ApiErrors>`}, want: 12, msgHas: "SERVER_OUT_OF_SERVICE"},
			{name: "not finesse", env: creds, server: goodHTTPS, si: reply{200, "<html>proxy error</html>"}, want: 13},
			{name: "untrusted xmpp", env: creds, server: otherHTTPS, ca: l.otherCA, want: 21, msgHas: "certificate"},
			{name: "unknown xmpp domain", env: creds, server: goodHTTPS, si: reply{200, strings.ReplaceAll(inServiceBody("IN_SERVICE"), ">"+domain+"<", ">elsewhere.test<")}, want: 20, msgHas: "host-unknown"},
			{name: "wrong password", env: wrongPW, server: goodHTTPS, want: 22, msgHas: "not-authorized"},
			{name: "roster lacks finesse", env: loner, server: goodHTTPS, want: 31, msgHas: "not in the probe user's roster"},
		}
		for _, tc := range cases {
			t.Run(m.mode+"/"+tc.name, func(t *testing.T) {
				si := tc.si
				if si.status == 0 {
					si = reply{200, inServiceBody("IN_SERVICE")}
				}
				l.systemInfo.Store(si)
				ca := tc.ca
				if ca == "" {
					ca = l.caFile
				}
				r := checkCmd(t, tc.env, append(m.args, "--ca-file", ca, "--presence-timeout", "2s", tc.server)...)
				assertRun(t, r, tc.want, tc.msgHas)
			})
		}
	}
	l.systemInfo.Store(reply{200, inServiceBody("IN_SERVICE")})

	// The 'finesse' user signs off while the service runs: the guide's
	// "Finesse Tomcat goes down" seen from a client.
	stopFinesse()
	for _, m := range modes {
		t.Run(m.mode+"/finesse offline", func(t *testing.T) {
			r := checkCmd(t, creds, append(m.args, "--ca-file", l.caFile, "--presence-timeout", "2s", goodHTTPS)...)
			assertRun(t, r, 30, "UNAVAILABLE")
		})
	}

	// The Notification Service stops.
	l.prosody.Stop()
	for _, m := range modes {
		t.Run(m.mode+"/notification service down", func(t *testing.T) {
			r := checkCmd(t, creds, append(m.args, "--ca-file", l.caFile, goodHTTPS)...)
			assertRun(t, r, 20, "refused")
		})
	}
}

// labTransport is a way to reach the lab's Prosody, as check flags.
type labTransport struct {
	mode string
	args []string
}

// labTransports are XMPP over TCP (direct TLS, STARTTLS) and over WebSocket
// (Prosody's mod_websocket at /ws/ on its HTTPS port).
func labTransports(l *lab) []labTransport {
	port := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	return []labTransport{
		{"direct", []string{"--xmpp-tls", "direct", "--xmpp-port", port(l.prosody.DirectTLSAddr)}},
		{"starttls", []string{"--xmpp-tls", "starttls", "--xmpp-port", port(l.prosody.StartTLSAddr)}},
		{"websocket", []string{"--xmpp-transport", "websocket", "--xmpp-port", port(l.prosody.HTTPSAddr)}},
	}
}

// --connect-only needs no account and stops before login.
func TestIntegrationConnectOnly(t *testing.T) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	_, plainPort, _ := net.SplitHostPort(l.prosody.StartTLSAddr)
	// A plain 5222 is checked in clear text, which only --connect-only allows.
	plain := labTransport{"none", []string{"--xmpp-tls", "none", "--xmpp-port", plainPort}}
	for _, m := range append(labTransports(l), plain) {
		r := checkCmd(t, nil, append(m.args, "--connect-only", "--ca-file", l.caFile, https)...)
		assertRun(t, r, 0, "not logged in")
		if st := r.report.Servers[0].Checks[2].Status; st != "skipped" {
			t.Errorf("%s: presence status %q, want skipped", m.mode, st)
		}
	}
}

// Silent servers on either port end at the deadline through the real command.
func TestIntegrationSilentPortsEndAtDeadline(t *testing.T) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	silent := nettest.Silent(t)
	_, silentPort, _ := net.SplitHostPort(silent)
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": probePass}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"https", []string{silent}, 10},
		{"xmpp", []string{"--xmpp-port", silentPort, https}, 20},
		{"websocket", []string{"--xmpp-transport", "websocket", "--xmpp-port", silentPort, https}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := checkCmd(t, creds, append([]string{"-t", "1s", "--ca-file", l.caFile}, tc.args...)...)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v with a 1s timeout", elapsed)
			}
			assertRun(t, r, tc.want, "deadline")
		})
	}
}

func assertRun(t *testing.T, r run, want int, msgHas string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	if msgHas != "" && !strings.Contains(r.stdout, msgHas) {
		t.Fatalf("report does not mention %q:\n%s", msgHas, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, probePass) {
		t.Fatalf("the probe password appears in the output")
	}
}

func clientTLS(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// --bosh-probe against Prosody's mod_bosh: a session is created and ended
// without a login; a BOSH endpoint that is not there fails only with
// --require-bosh; a stopped Prosody fails it too.
func TestIntegrationBOSHProbe(t *testing.T) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	l.finesseOnline(t)
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": probePass}
	_, boshPort, _ := net.SplitHostPort(l.prosody.HTTPSAddr)
	_, direct, _ := net.SplitHostPort(l.prosody.DirectTLSAddr)
	_, refused, _ := net.SplitHostPort(nettest.Refused(t))
	boshOf := func(t *testing.T, r run) (ok bool, mechanisms []string, errText string) {
		t.Helper()
		var doc struct {
			Servers []struct {
				BOSH *struct {
					OK         bool     `json:"ok"`
					Mechanisms []string `json:"mechanisms"`
					Error      string   `json:"error"`
				} `json:"bosh"`
			} `json:"servers"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Servers) != 1 || doc.Servers[0].BOSH == nil {
			t.Fatalf("no bosh in the report (%v):\n%s", err, r.stdout)
		}
		b := doc.Servers[0].BOSH
		return b.OK, b.Mechanisms, b.Error
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    int
		boshOK  bool
		errText string
	}{
		{"healthy", []string{"--bosh-probe", "--bosh-port", boshPort}, 0, true, ""},
		{"absent, not required", []string{"--bosh-probe", "--bosh-port", refused}, 0, false, "refused"},
		{"absent, required", []string{"--require-bosh", "--bosh-port", refused}, 20, false, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkCmd(t, creds, append([]string{"--xmpp-port", direct, "--ca-file", l.caFile}, append(tc.args, https)...)...)
			assertRun(t, r, tc.want, "")
			ok, mechs, errText := boshOf(t, r)
			if ok != tc.boshOK || !strings.Contains(errText, tc.errText) {
				t.Errorf("bosh ok=%v error %q, want ok=%v holding %q", ok, errText, tc.boshOK, tc.errText)
			}
			if ok && !slices.Contains(mechs, "PLAIN") {
				t.Errorf("mechanisms %v, want PLAIN among them", mechs)
			}
		})
	}
	l.prosody.Stop()
	r := checkCmd(t, creds, "--connect-only", "--bosh-probe", "--bosh-port", boshPort, "--xmpp-port", direct, "--ca-file", l.caFile, https)
	assertRun(t, r, 20, "refused")
	if ok, _, errText := boshOf(t, r); ok || !strings.Contains(errText, "refused") {
		t.Errorf("BOSH of a stopped Prosody: ok=%v, %q", ok, errText)
	}
}
