package output

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/finessectl/finessectl/internal/boshprobe"
	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	goldenfile "github.com/finessectl/finessectl/internal/golden"
	"github.com/finessectl/finessectl/internal/probe"
	rt "github.com/finessectl/finessectl/internal/resulttest"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func checks(statuses []check.Status, durations ...int) []check.CheckResult {
	out := make([]check.CheckResult, len(finesse.Criteria))
	for i, c := range finesse.Criteria {
		out[i] = check.CheckResult{Criterion: c, Status: statuses[i]}
		if i < len(durations) {
			out[i].Duration = rt.Ms(durations[i])
		}
	}
	return out
}

// started is when every hand-built run began; certificates count from it.
var started = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// The phases of each criterion are those its probe reported, as check.Run
// records them; every run is judged under --require all unless it says.
func init() {
	for name, r := range results {
		r.Started, r.CertWarn, r.CertCrit = started, 30*24*time.Hour, 7*24*time.Hour
		for _, s := range r.Servers {
			r.Duration = max(r.Duration, s.Duration)
		}
		if r.Require == "" {
			r.Require = check.RequireAll
		}
		results[name] = r
		for i, s := range r.Servers {
			if s.SystemInfo != nil {
				r.Servers[i].Checks[0].Phases = s.SystemInfo.Timings
			}
			if s.XMPP != nil {
				r.Servers[i].Checks[1].Phases = s.XMPP.Timings
			}
		}
	}
}

var (
	passAll     = []check.Status{check.Pass, check.Pass, check.Pass}
	failFirst   = []check.Status{check.Fail, check.Skipped, check.Skipped}
	failSecond  = []check.Status{check.Pass, check.Fail, check.Skipped}
	failThird   = []check.Status{check.Pass, check.Pass, check.Fail}
	connectOnly = []check.Status{check.Pass, check.Pass, check.Skipped}
	available   = &check.PresenceResult{JID: "finesse@finesse-a.example.com", Received: true, Presence: xmppprobe.Presence{Available: true, Roster: xmppprobe.RosterState{Received: true, Listed: true, Subscription: "both"}}}
	errRefused  = fmt.Errorf("GET https://finesse-b.example.com:8445/finesse/api/SystemInfo: %w",
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
)

func healthy(name string) check.ServerResult {
	return check.ServerResult{Target: rt.Target(name), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: rt.XMPPOK(), Presence: available,
		Checks: checks(passAll, 21, 48, 15), Duration: rt.Ms(84)}
}

// Results built by hand: durations and facts fixed, so goldens are stable.
// Each is named after the case it holds.
var results = map[string]check.Result{
	"healthy": {Servers: []check.ServerResult{healthy("finesse-a.example.com")}},

	"presence-unavailable-and-peer-refused": {Servers: []check.ServerResult{
		{
			Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: rt.XMPPOK(), Duration: rt.Ms(3070),
			Checks:   checks(failThird, 20, 50, 3000),
			Presence: &check.PresenceResult{JID: "finesse@finesse-a.example.com", Received: true, Presence: xmppprobe.Presence{Status: "shutting down"}},
			Failure:  &check.Failure{Criterion: finesse.CriterionPresence, Code: finesse.FinesseUnavailable, Err: errors.New("unavailable")},
		},
		{
			Target: rt.Target("finesse-b.example.com:8445"), Duration: rt.Ms(1),
			SystemInfo: &systeminfo.Response{URL: "https://finesse-b.example.com:8445/finesse/api/SystemInfo"},
			Checks:     checks(failFirst, 1),
			Failure:    &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnreachable, Err: errRefused},
		},
	}},

	"dns-failure-with-available-peer": {Servers: []check.ServerResult{
		{
			Target: rt.Target("finesse-c.example.com"), Duration: rt.Ms(3),
			SystemInfo:     &systeminfo.Response{URL: "https://finesse-c.example.com:8445/finesse/api/SystemInfo"},
			Checks:         checks(failFirst, 3),
			AvailablePeers: []string{"finesse-a.example.com"},
			Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnreachable,
				Err: fmt.Errorf("GET https://finesse-c.example.com:8445/finesse/api/SystemInfo: dial tcp: %w",
					&net.DNSError{Err: "no such host", Name: "finesse-c.example.com", IsNotFound: true})},
		},
		healthy("finesse-a.example.com"),
	}},

	"connect-only": {Servers: []check.ServerResult{{
		Target: rt.Target("https://finesse-a.example.com:8445"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), ConnectOnly: true, Duration: rt.Ms(40),
		XMPP:   &xmppprobe.Facts{Addr: "finesse-a.example.com:5223", Mode: xmppprobe.DirectTLS, Domain: "finesse-a.example.com", Certificate: rt.Certificate, TLSVersion: "TLS 1.3", Timings: rt.Timings("connect", 2, "tls", 14, "stream", 4)},
		Checks: checks(connectOnly, 20, 20),
	}}},

	// A 12.5 node under auto: no /ws/ on 8445, so WebSocket on 7443, with
	// the BOSH probe failing next to it.
	"websocket-auto-on-7443-bosh-failing": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), Presence: available, Duration: rt.Ms(120),
		XMPP: &xmppprobe.Facts{Addr: "finesse-a.example.com:7443", Transport: xmppprobe.WebSocket, URL: "wss://finesse-a.example.com:7443/ws/",
			Mode: xmppprobe.DirectTLS, Domain: "finesse-a.example.com", Certificate: rt.Certificate, TLSVersion: "TLS 1.3",
			JID: "1080001@finesse-a.example.com/finessectl-0a1b2c3d", Timings: rt.Timings("connect", 2, "tls", 14, "websocket", 3, "stream", 4)},
		XMPPRoute: &check.Route{Why: "auto: WebSocket on 7443, as desktops of Finesse 12.0 to 12.5 connect",
			Skipped: []check.SkippedRoute{{Where: "wss://finesse-a.example.com:8445/ws/",
				Err: &xmppprobe.PhaseError{Phase: xmppprobe.PhaseUpgrade, Err: &xmppprobe.UpgradeError{StatusCode: 404, Status: "404 Not Found"}}}}},
		BOSH: &check.BOSHResult{Result: boshprobe.Result{URL: "https://finesse-a.example.com:7443/http-bind/", Duration: rt.Ms(9)},
			Err: &boshprobe.Error{Status: 503}},
		Checks: checks(passAll, 21, 60, 15),
	}}},

	"internal-error": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), Duration: rt.Ms(10500),
		Checks: []check.CheckResult{
			{Criterion: finesse.CriterionSystemInfo, Status: check.Skipped},
			{Criterion: finesse.CriterionXMPP, Status: check.Skipped},
			{Criterion: finesse.CriterionPresence, Status: check.Skipped},
		},
		Failure: &check.Failure{Code: finesse.Internal, Err: errors.New("the check did not stop at its 10s deadline; this is a bug in finessectl")},
	}}},

	"hostile-server-text": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), Duration: rt.Ms(5),
		SystemInfo: &systeminfo.Response{URL: "https://finesse-a.example.com:8445/finesse/api/SystemInfo", HTTPStatus: 200, Proto: "HTTP/1.1",
			Info: &systeminfo.Info{Status: "\x1b[2J\x1b[31mOUT_OF_SERVICE\u009b0m", StatusReason: "evil\u202etxt.exe\u0085line",
				XMPPDomain: "\u202ecom.elpmaxe", PrimaryNode: &systeminfo.Node{Host: "a\u009d0;title\x07"}, SecondaryNode: &systeminfo.Node{Host: "b\nforged line"}}},
		Checks: checks(failFirst, 5),
		Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.NotInService,
			Err: &systeminfo.NotInServiceError{HTTPStatus: 200, Status: "\x1b[2J\x1b[31mOUT_OF_SERVICE\u009b0m", Reason: "evil\u202etxt.exe\u0085line"}},
	}}},

	"maintenance-and-heartbeat-warnings": {Servers: []check.ServerResult{func() check.ServerResult {
		s := healthy("finesse-a.example.com")
		info := rt.PairInfo()
		info.FinesseMMode, info.FinesseTimeInMMode = "IN_PROGRESS", "120000"
		info.LastCTIHeartbeatStatus, info.LastSuccessCTIHeartbeatTime = "failure", "1764511200000"
		s.SystemInfo = rt.HTTPSOK(info)
		s.Warnings = []check.Warning{{Code: check.WarnMaintenance, Severity: check.SeverityWarning}, {Code: check.WarnCTIHeartbeat, Severity: check.SeverityWarning}}
		return s
	}()}},

	"auth-failed-with-hints": {Servers: []check.ServerResult{func() check.ServerResult {
		info := rt.PairInfo()
		info.SystemAuthMode = "HYBRID"
		x := rt.XMPPOK()
		x.JID, x.Timings = "", rt.Timings("connect", 2, "tls", 18, "stream", 4)
		return check.ServerResult{Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(info), XMPP: x,
			Checks: checks(failSecond, 21, 40), Duration: rt.Ms(62),
			Failure: &check.Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPAuthFailed,
				Err:   &xmppprobe.PhaseError{Phase: xmppprobe.PhaseAuth, Err: &xmppprobe.AuthError{Condition: "not-authorized"}},
				Hints: []check.Hint{check.HintAgentID, check.HintSSO}}}
	}()}},

	"presence-missing-not-in-roster": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: rt.XMPPOK(), Duration: rt.Ms(3071),
		Checks:   checks(failThird, 21, 50, 3000),
		Presence: &check.PresenceResult{JID: "finesse@finesse-a.example.com", Presence: xmppprobe.Presence{Roster: xmppprobe.RosterState{Received: true}}},
		Failure: &check.Failure{Criterion: finesse.CriterionPresence, Code: finesse.FinessePresenceMissing,
			Err: &xmppprobe.PhaseError{Phase: xmppprobe.PhasePresence, Err: &xmppprobe.NoPresenceError{JID: "finesse@finesse-a.example.com", Roster: xmppprobe.RosterState{Received: true}}}},
	}}},

	"pair-degraded-require-any": {Require: check.RequireAny, Servers: []check.ServerResult{
		healthy("finesse-a.example.com"),
		{
			Target: rt.Target("finesse-b.example.com"), Duration: rt.Ms(1),
			SystemInfo: &systeminfo.Response{URL: "https://finesse-b.example.com:8445/finesse/api/SystemInfo"},
			Checks:     checks(failFirst, 1), AvailablePeers: []string{"finesse-a.example.com"},
			Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnreachable, Err: errRefused},
		},
	}},

	"certificate-expiring-and-peer-added": {Servers: []check.ServerResult{
		func() check.ServerResult {
			s := healthy("finesse-a.example.com")
			soon := *rt.Certificate
			soon.NotAfter = started.Add(3*24*time.Hour + time.Hour)
			s.SystemInfo.Certificate, s.XMPP.Certificate = &soon, &soon
			s.Warnings = []check.Warning{{Code: check.WarnHTTPSCertExpiring, Severity: check.SeverityCritical},
				{Code: check.WarnXMPPCertExpiring, Severity: check.SeverityCritical}}
			return s
		}(),
		func() check.ServerResult {
			s := healthy("finesse-b.example.com:8445")
			s.PeerOf = "finesse-a.example.com"
			return s
		}(),
	}},

	"systeminfo-not-finesse": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), Duration: rt.Ms(22),
		SystemInfo: &systeminfo.Response{URL: "https://finesse-a.example.com:8445/finesse/api/SystemInfo", HTTPStatus: 404, Proto: "HTTP/1.1",
			Certificate: rt.Certificate, Timings: rt.HTTPSPhases},
		Checks: checks(failFirst, 22),
		Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnusable,
			Err: fmt.Errorf("%w: HTTP 404 Not Found, an HTML page titled \"Not Found\"", systeminfo.ErrUnusable)},
	}}},

	"notification-service-down": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), Duration: rt.Ms(23),
		XMPP:   &xmppprobe.Facts{Addr: "finesse-a.example.com:5223", Mode: xmppprobe.DirectTLS, Timings: rt.Timings("connect", 1)},
		Checks: checks(failSecond, 21, 1),
		Failure: &check.Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPConnectionFailed,
			Err: &xmppprobe.PhaseError{Phase: xmppprobe.PhaseConnect, Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}},
	}}},

	"xmpp-certificate-expired": {Servers: []check.ServerResult{func() check.ServerResult {
		expired := *rt.Certificate
		expired.NotAfter = started.Add(-2 * 24 * time.Hour)
		x := rt.XMPPOK()
		x.Certificate, x.TLSVersion, x.JID, x.Timings = &expired, "", "", rt.Timings("connect", 2, "tls", 9)
		return check.ServerResult{Target: rt.Target("finesse-a.example.com"), SystemInfo: rt.HTTPSOK(rt.PairInfo()), XMPP: x,
			Checks: checks(failSecond, 21, 11), Duration: rt.Ms(32),
			Failure: &check.Failure{Criterion: finesse.CriterionXMPP, Code: finesse.XMPPTLS,
				Err: &xmppprobe.PhaseError{Phase: xmppprobe.PhaseTLS, Err: &probe.TLSError{Err: &tls.CertificateVerificationError{
					Err: x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired, Detail: "current time 2026-11-30T12:00:00Z is after 2026-11-28T12:00:00Z"}}}}}}
	}()}},

	// A run that passed, slowly: the -w and -c thresholds on its duration
	// decide the monitoring plugin's state.
	"slow-server": {Servers: []check.ServerResult{func() check.ServerResult {
		s := healthy("finesse-a.example.com")
		s.Checks, s.Duration = checks(passAll, 2100, 3900, 100), rt.Ms(6100)
		return s
	}()}},

	// Two slow servers checked one after the other (--concurrency 1): the
	// run takes longer than either.
	"slow-pair-in-waves": {Duration: rt.Ms(12200), Servers: []check.ServerResult{func() check.ServerResult {
		s := healthy("finesse-a.example.com")
		s.Checks, s.Duration = checks(passAll, 2100, 3900, 100), rt.Ms(6100)
		return s
	}(), func() check.ServerResult {
		s := healthy("finesse-b.example.com")
		s.Checks, s.Duration = checks(passAll, 2000, 4000, 100), rt.Ms(6100)
		return s
	}()}},

	"https-certificate-untrusted": {Servers: []check.ServerResult{{
		Target: rt.Target("finesse-a.example.com"), Duration: rt.Ms(14),
		SystemInfo: &systeminfo.Response{URL: "https://finesse-a.example.com:8445/finesse/api/SystemInfo", Certificate: rt.Certificate,
			Timings: rt.Timings("dns", 1, "connect", 2, "tls", 11)},
		Checks: checks(failFirst, 14),
		Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoTLS,
			Err: fmt.Errorf("GET https://finesse-a.example.com:8445/finesse/api/SystemInfo: %w",
				&probe.TLSError{Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}})},
	}}},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, name, got, *update)
}

func TestGoldenText(t *testing.T) {
	for name, r := range results {
		for _, colour := range []bool{false, true} {
			file := name + ".txt"
			if colour {
				file = name + ".color.txt"
			}
			t.Run(file, func(t *testing.T) {
				var b bytes.Buffer
				if err := Text(&b, r, TextOptions{Color: colour, Verbose: true}); err != nil {
					t.Fatal(err)
				}
				if !colour && strings.Contains(b.String(), "\x1b") {
					t.Fatalf("colourless report contains an escape sequence:\n%q", b.String())
				}
				golden(t, file, b.Bytes())
			})
		}
	}
}

func TestGoldenJSON(t *testing.T) {
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, r); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", b.Bytes())
		})
	}
}

// The JSON contract: these keys exist for every server, failing or not.
func TestJSONKeysAlwaysPresent(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, results["presence-unavailable-and-peer-refused"]); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion *int                         `json:"format_version"`
		ExitCode      *int                         `json:"exit_code"`
		Servers       []map[string]json.RawMessage `json:"servers"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion == nil || *doc.FormatVersion != JSONFormatVersion || doc.ExitCode == nil || *doc.ExitCode != 30 {
		t.Fatalf("top level wrong: %s", b.String())
	}
	for _, s := range doc.Servers {
		for _, k := range []string{"server", "available", "exit_code", "failed_criterion", "error", "meaning", "scenario",
			"recovery", "operator", "hints", "warnings", "alternate_host", "available_peers", "connect_only",
			"duration_seconds", "checks", "systeminfo", "http", "xmpp", "presence"} {
			if _, ok := s[k]; !ok {
				t.Errorf("server object lacks %q", k)
			}
		}
		var checks []map[string]json.RawMessage
		if err := json.Unmarshal(s["checks"], &checks); err != nil || len(checks) != 3 {
			t.Fatalf("checks: %v (%s)", err, s["checks"])
		}
		for _, c := range checks {
			for _, k := range []string{"name", "status", "duration_seconds", "message", "phases"} {
				if _, ok := c[k]; !ok {
					t.Errorf("check object lacks %q", k)
				}
			}
		}
	}
}

func TestDuration(t *testing.T) {
	tests := map[time.Duration]string{0: "0ms", rt.Ms(1): "1ms", 1500 * time.Microsecond: "2ms", rt.Ms(999): "999ms", rt.Ms(1000): "1.00s", rt.Ms(3070): "3.07s"}
	for d, want := range tests {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// In JSON, control and format characters from a server appear only as
// visible escapes: no raw C0, C1, bidi or line-separator character.
func TestJSONHasNoRawControlCharacters(t *testing.T) {
	for name, r := range results {
		var b bytes.Buffer
		if err := JSON(&b, r); err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		walkStrings(doc, func(s string) {
			for _, c := range s {
				if unicode.Is(unicode.Cc, c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
					t.Errorf("%s: decoded JSON string holds %U: %q", name, c, s)
				}
			}
		})
	}
}

func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	}
}

func TestCertificateExpiryWording(t *testing.T) {
	c := func(left time.Duration) *probe.Certificate {
		return &probe.Certificate{Subject: "CN=finesse-a", NotAfter: started.Add(left)}
	}
	tests := []struct {
		left time.Duration
		want string
	}{
		{20*24*time.Hour + time.Hour, "expires on 2026-12-20, in 20 days"},
		{36 * time.Hour, "in 1 day;"},
		{time.Hour, "in less than a day;"},
		{-48 * time.Hour, "expired on 2026-11-28; the check passed only because --insecure"},
	}
	for _, tt := range tests {
		if got := certExpiryMessage("HTTPS", c(tt.left), started); !strings.Contains(got, tt.want) {
			t.Errorf("%v left: %q lacks %q", tt.left, got, tt.want)
		}
	}
}
