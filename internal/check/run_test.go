package check

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/pki"
)

const inService = `<SystemInfo><status>IN_SERVICE</status><xmppDomain>finesse.test</xmppDomain>
<primaryNode><host>finesse.test</host></primaryNode><secondaryNode><host>finesse-b.test</host></secondaryNode></SystemInfo>`

// testPKI is a CA and the client trust for servers it signs for 127.0.0.1.
type testPKI struct {
	ca   *pki.CA
	leaf tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	ca, err := pki.NewCA("check test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1", "localhost"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{ca: ca, leaf: leaf.TLSCertificate()}
}

func (p testPKI) clientTLS() *tls.Config { return &tls.Config{RootCAs: p.ca.Pool()} }

// systemInfoServer serves body at the SystemInfo path over TLS.
func systemInfoServer(t *testing.T, p testPKI, status int, body string) Target {
	t.Helper()
	return httpsTarget(t, p, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != finesse.SystemInfoPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// httpsTarget serves h over TLS with p's certificate until the test ends.
func httpsTarget(t *testing.T, p testPKI, h http.HandlerFunc) Target {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tg, err := ParseTarget(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func silentPort(t *testing.T) int { return portOf(nettest.Silent(t)) }
func closedPort(t *testing.T) int { return portOf(nettest.Refused(t)) }
func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func TestRunVerdicts(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name        string
		status      int
		body        string
		xmppPort    func(*testing.T) int
		connectOnly bool
		want        int
		criterion   finesse.Criterion
		msgHas      string
	}{
		{name: "out of service", status: 200, body: strings.Replace(inService, "IN_SERVICE", "OUT_OF_SERVICE", 1),
			want: 12, criterion: finesse.CriterionSystemInfo, msgHas: "OUT_OF_SERVICE"},
		{name: "503", status: 503,
			body: `<ApiErrors><ApiError><ErrorType>Service Unavailable</ErrorType><ErrorData></ErrorData><ErrorMessage>SERVER_OUT_OF_SERVICE</ErrorMessage></ApiError></ApiErrors>`,
			want: 12, criterion: finesse.CriterionSystemInfo, msgHas: "SERVER_OUT_OF_SERVICE"},
		{name: "proxy page", status: 200, body: "<html><body>It works!</body></html>",
			want: 13, criterion: finesse.CriterionSystemInfo},
		{name: "notification service down", status: 200, body: inService, xmppPort: closedPort,
			want: 20, criterion: finesse.CriterionXMPP, msgHas: "refused"},
		{name: "notification service silent", status: 200, body: inService, xmppPort: silentPort,
			want: 20, criterion: finesse.CriterionXMPP, msgHas: "deadline"},
		{name: "connect only still fails on a dead port", status: 200, body: inService, xmppPort: closedPort, connectOnly: true,
			want: 20, criterion: finesse.CriterionXMPP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := systemInfoServer(t, p, tt.status, tt.body)
			opts := Options{Timeout: 2 * time.Second, TLS: p.clientTLS(), User: "probe", Password: "pw", ConnectOnly: tt.connectOnly}
			if tt.xmppPort != nil {
				opts.XMPPPort = tt.xmppPort(t)
			}
			res := Run(context.Background(), []Target{tg}, opts)
			s := res.Servers[0]
			if int(s.ExitCode()) != tt.want || s.Failure.Criterion != tt.criterion {
				t.Fatalf("got exit %d at %s (%v), want %d at %s", s.ExitCode(), s.Failure.Criterion, s.Failure, tt.want, tt.criterion)
			}
			if !strings.Contains(s.Failure.Error(), tt.msgHas) {
				t.Fatalf("failure %q does not mention %q", s.Failure, tt.msgHas)
			}
			assertOrderedChecks(t, s)
		})
	}
}

// assertOrderedChecks holds the guide's rule: every criterion after the
// failing one is skipped, every one before it passed.
func assertOrderedChecks(t *testing.T, s ServerResult) {
	t.Helper()
	failed := false
	for _, c := range s.Checks {
		switch {
		case failed && c.Status != Skipped:
			t.Errorf("%s ran after an earlier criterion failed", c.Criterion)
		case !failed && c.Criterion == s.Failure.Criterion && c.Status != Fail:
			t.Errorf("%s is the failure but has status %s", c.Criterion, c.Status)
		case !failed && c.Criterion != s.Failure.Criterion && c.Status != Pass:
			t.Errorf("%s precedes the failure but has status %s", c.Criterion, c.Status)
		}
		if c.Criterion == s.Failure.Criterion {
			failed = true
		}
	}
}

// A server that accepts and never answers must not hold the verdict past the
// deadline, and several such servers must not add their deadlines up.
func TestSilentServersEndTogetherWithinDeadline(t *testing.T) {
	p := newTestPKI(t)
	silentHTTPS, _ := ParseTarget("127.0.0.1:" + itoa(silentPort(t)))
	refused, _ := ParseTarget("127.0.0.1:" + itoa(closedPort(t)))
	silentXMPP := systemInfoServer(t, p, 200, inService)
	opts := Options{Timeout: time.Second, TLS: p.clientTLS(), User: "probe", Password: "pw", XMPPPort: silentPort(t)}

	start := time.Now()
	res := Run(context.Background(), []Target{silentHTTPS, refused, silentXMPP}, opts)
	elapsed := time.Since(start)

	want := []int{10, 10, 20}
	for i, s := range res.Servers {
		if int(s.ExitCode()) != want[i] {
			t.Errorf("server %d (%s): exit %d (%v), want %d", i, s.Target.Name, s.ExitCode(), s.Failure, want[i])
		}
	}
	if res.ExitCode() != 10 {
		t.Errorf("overall exit %d, want the first server's 10", res.ExitCode())
	}
	// Generous bound: three one-second deadlines run in parallel, not in series.
	if elapsed > 2*time.Second {
		t.Fatalf("three servers with 1s deadlines took %v", elapsed)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A check that overruns its deadline by more than the grace is given up on
// and judged by the criterion it was in; the others keep their own verdicts,
// also one that returns late but within the grace, however often it happens
// (the give-up must not race them).
func TestCollectGivesUpOnlyOnOverrunningChecks(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for _, tc := range []struct {
		name    string
		reached int // criteria passed before the stuck one; -1: none entered
		want    finesse.Code
	}{
		{"before any criterion", -1, finesse.SystemInfoUnreachable},
		{"in systeminfo", 0, finesse.SystemInfoUnreachable},
		{"in xmpp", 1, finesse.XMPPConnectionFailed},
		{"in presence", 2, finesse.FinessePresenceMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const timeout = 10 * time.Millisecond
			targets := []Target{{Name: "first"}, {Name: "stuck"}, {Name: "late"}}
			for i := 0; i < 20; i++ {
				res := collect(targets, len(targets), timeout, time.Time{}, 40*time.Millisecond, func(t Target, p *progress) ServerResult {
					r := ServerResult{Target: t, Checks: initialChecks()}
					switch t.Name {
					case "stuck":
						stall(p, &r, tc.reached)
						<-release
					case "late":
						stall(p, &r, tc.reached)
						time.Sleep(timeout)
					}
					return r
				})
				for _, s := range res.Servers {
					want := finesse.OK
					if s.Target.Name == "stuck" {
						want = tc.want
					}
					if s.ExitCode() != want {
						t.Fatalf("round %d: %s exit %d, want %d (%v)", i, s.Target.Name, s.ExitCode(), want, s.Failure)
					}
				}
				stuck := res.Servers[1]
				if !errors.Is(stuck.Failure, context.DeadlineExceeded) ||
					!strings.Contains(stuck.Failure.Error(), "did not answer before the 10ms deadline") {
					t.Fatalf("stuck check reported as %q", stuck.Failure)
				}
				assertOrderedChecks(t, stuck)
			}
		})
	}
}

// stall records a check that passed the first reached criteria and entered
// the next, as checkServer does.
func stall(p *progress, r *ServerResult, reached int) {
	if reached < 0 {
		return
	}
	for _, c := range finesse.Criteria[:reached] {
		finish(r, c, time.Now(), nil)
	}
	p.enter(finesse.Criteria[reached], *r)
}

// Progress does not hide a panic: it is a bug, whatever criterion it hit.
func TestCollectTurnsAPanicIntoAnInternalError(t *testing.T) {
	res := collect([]Target{{Name: "a"}, {Name: "b"}}, 2, time.Second, time.Time{}, stuckGrace, func(t Target, p *progress) ServerResult {
		r := ServerResult{Target: t, Checks: initialChecks()}
		if t.Name == "b" {
			stall(p, &r, 1)
			panic("boom")
		}
		return r
	})
	if res.Servers[0].ExitCode() != 0 || res.Servers[1].ExitCode() != 70 ||
		!strings.Contains(res.Servers[1].Failure.Error(), "panicked: boom") {
		t.Fatalf("got %d / %d (%v)", res.Servers[0].ExitCode(), res.Servers[1].ExitCode(), res.Servers[1].Failure)
	}
}
