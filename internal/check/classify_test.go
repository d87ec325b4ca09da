package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"testing"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

func TestSystemInfoCode(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tlsErr := func(err error) error { return fmt.Errorf("GET x: %w", &probe.TLSError{Err: err}) }
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"refused", fmt.Errorf("GET x: %w", refused), 10},
		{"deadline", fmt.Errorf("GET x: %w", context.DeadlineExceeded), 10},
		{"dns", fmt.Errorf("GET x: %w", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), 10},
		{"reset", fmt.Errorf("GET x: %w", io.ErrUnexpectedEOF), 10},
		{"unknown authority", tlsErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), 11},
		{"protocol version", tlsErr(errors.New("tls: server selected unsupported protocol version 301")), 11},
		{"out of service", &systeminfo.NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE"}, 12},
		{"503", &systeminfo.NotInServiceError{HTTPStatus: 503, Reason: "SERVER_OUT_OF_SERVICE"}, 12},
		{"unusable", fmt.Errorf("HTTP 404: %w", systeminfo.ErrUnusable), 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := systemInfoCode(tt.err); int(got) != tt.want {
				t.Fatalf("systemInfoCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestXMPPCode(t *testing.T) {
	phase := func(p xmppprobe.Phase, err error) error { return &xmppprobe.PhaseError{Phase: p, Err: err} }
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"refused", phase(xmppprobe.PhaseConnect, &net.OpError{Op: "dial", Err: errors.New("refused")}), 20},
		{"silent", phase(xmppprobe.PhaseStream, context.DeadlineExceeded), 20},
		{"stream closed", phase(xmppprobe.PhaseStream, xmppprobe.ErrStreamClosed), 20},
		{"stream error", phase(xmppprobe.PhaseStream, &xmppprobe.StreamError{Condition: "system-shutdown"}), 20},
		{"no starttls", phase(xmppprobe.PhaseStartTLS, xmppprobe.ErrNoStartTLS), 20},
		{"flood", phase(xmppprobe.PhaseStream, xmppprobe.ErrTooMuchData), 20},
		{"untrusted", phase(xmppprobe.PhaseTLS, &probe.TLSError{Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}), 21},
		{"untrusted after starttls", phase(xmppprobe.PhaseStartTLS, &probe.TLSError{Err: x509.HostnameError{}}), 21},
		{"bad password", phase(xmppprobe.PhaseAuth, &xmppprobe.AuthError{Condition: "not-authorized"}), 22},
		{"auth backend hangs", phase(xmppprobe.PhaseAuth, context.DeadlineExceeded), 22},
		{"silence after SASL success", phase(xmppprobe.PhaseRestart, context.DeadlineExceeded), 20},
		{"service stops during auth", phase(xmppprobe.PhaseAuth, &xmppprobe.StreamError{Condition: "system-shutdown"}), 20},
		{"hang-up during auth", phase(xmppprobe.PhaseAuth, fmt.Errorf("server closed the connection: %w", io.EOF)), 20},
		{"flood during auth", phase(xmppprobe.PhaseAuth, xmppprobe.ErrTooMuchData), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := xmppCode(tt.err); int(got) != tt.want {
				t.Fatalf("xmppCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestAuthHints(t *testing.T) {
	tests := []struct {
		name string
		info *systeminfo.Info
		user string
		want []Hint
	}{
		{"UCCE with a login name", &systeminfo.Info{DeploymentType: "UCCE"}, "healthprobe", []Hint{HintAgentID}},
		{"UCCE with an agent ID", &systeminfo.Info{DeploymentType: "UCCE"}, "1080001", nil},
		{"UCCX names are fine", &systeminfo.Info{DeploymentType: "UCCX"}, "healthprobe", nil},
		{"SSO", &systeminfo.Info{DeploymentType: "UCCE", SystemAuthMode: "SSO"}, "1080001", []Hint{HintSSO}},
		{"hybrid and a name", &systeminfo.Info{DeploymentType: "UCCE", SystemAuthMode: "HYBRID"}, "probe", []Hint{HintAgentID, HintSSO}},
		{"non-SSO", &systeminfo.Info{DeploymentType: "UCCE", SystemAuthMode: "NON_SSO"}, "1080001", nil},
		{"no SystemInfo", nil, "probe", nil},
	}
	for _, tt := range tests {
		if got := authHints(tt.info, tt.user); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: authHints = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		info systeminfo.Info
		want []Warning
	}{
		{"healthy", systeminfo.Info{Status: "IN_SERVICE", LastCTIHeartbeatStatus: "success", FinesseMMode: "NOT_IN_PROGRESS"}, nil},
		{"12.5 has neither field", systeminfo.Info{Status: "IN_SERVICE"}, nil},
		{"draining", systeminfo.Info{FinesseMMode: "IN_PROGRESS"}, []Warning{{WarnMaintenance, SeverityWarning}}},
		{"heartbeat", systeminfo.Info{LastCTIHeartbeatStatus: "failure"}, []Warning{{WarnCTIHeartbeat, SeverityWarning}}},
		{"both", systeminfo.Info{FinesseMMode: "in_progress", LastCTIHeartbeatStatus: "failure"}, []Warning{{WarnMaintenance, SeverityWarning}, {WarnCTIHeartbeat, SeverityWarning}}},
	}
	for _, tt := range tests {
		if got := infoWarnings(&tt.info); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: warnings = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestResultExitCodeIsFirstFailingServerInOrder(t *testing.T) {
	srv := func(c finesse.Code) ServerResult {
		if c == 0 {
			return ServerResult{}
		}
		return ServerResult{Failure: &Failure{Code: c, Err: errors.New("x")}}
	}
	tests := []struct {
		codes []finesse.Code
		want  finesse.Code
	}{
		{nil, 0},
		{[]finesse.Code{0, 0}, 0},
		{[]finesse.Code{0, 30, 10}, 30},
		{[]finesse.Code{22, 12}, 22},
		{[]finesse.Code{0, 0, 70}, 70},
	}
	for _, tt := range tests {
		var r Result
		for _, c := range tt.codes {
			r.Servers = append(r.Servers, srv(c))
		}
		if got := r.ExitCode(); got != tt.want {
			t.Errorf("codes %v: ExitCode = %d, want %d", tt.codes, got, tt.want)
		}
	}
}

func TestAlternateHost(t *testing.T) {
	pair := func(domain string) *systeminfo.Info {
		return &systeminfo.Info{XMPPDomain: domain,
			PrimaryNode:   &systeminfo.Node{Host: "fin-a.example.com"},
			SecondaryNode: &systeminfo.Node{Host: "fin-b.example.com"}}
	}
	tests := []struct {
		info *systeminfo.Info
		want string
	}{
		{nil, ""},
		{&systeminfo.Info{PrimaryNode: &systeminfo.Node{Host: "fin-a.example.com"}}, ""},
		{pair("fin-a.example.com"), "fin-b.example.com"},
		{pair("fin-b.example.com"), "fin-a.example.com"},
	}
	for _, tt := range tests {
		r := ServerResult{SystemInfo: &systeminfo.Response{Info: tt.info}}
		if got := r.AlternateHost(); got != tt.want {
			t.Errorf("AlternateHost(%+v) = %q, want %q", tt.info, got, tt.want)
		}
	}
}

func TestAvailablePeers(t *testing.T) {
	r := Result{Servers: []ServerResult{
		{Target: Target{Name: "a"}, Failure: &Failure{Code: 10, Err: errors.New("refused")}},
		{Target: Target{Name: "b"}},
		{Target: Target{Name: "c"}, ConnectOnly: true},
		{Target: Target{Name: "d"}},
	}}
	r.linkPeers()
	want := [][]string{{"b", "d"}, {"d"}, {"b", "d"}, {"b"}}
	for i, s := range r.Servers {
		if !reflect.DeepEqual(s.AvailablePeers, want[i]) {
			t.Errorf("%s: AvailablePeers = %v, want %v", s.Target.Name, s.AvailablePeers, want[i])
		}
	}
}

// Clusters joined into one report are each judged under their own rule, and
// the exit code is the first failing cluster's, so every renderer (which
// reads Result.ExitCode) agrees with the process.
func TestJoinedClustersExitCode(t *testing.T) {
	up := ServerResult{}
	down := func(c finesse.Code) ServerResult {
		return ServerResult{Failure: &Failure{Code: c, Err: errors.New("x")}}
	}
	run := func(req Require, servers ...ServerResult) Result { return Result{Require: req, Servers: servers} }
	tests := []struct {
		name string
		runs []Result
		want finesse.Code
	}{
		{"any degraded, all up", []Result{run(RequireAny, up, down(12)), run(RequireAll, up, up)}, 0},
		{"any down, all up", []Result{run(RequireAny, down(10), down(20)), run(RequireAll, up, up)}, 10},
		{"any up, all degraded", []Result{run(RequireAny, up, down(12)), run(RequireAll, up, down(30))}, 30},
		{"all degraded first", []Result{run(RequireAll, down(22), up), run(RequireAny, down(10), up)}, 22},
	}
	for _, tt := range tests {
		j := Join([]string{"site1", "site2"}, tt.runs)
		if got := j.ExitCode(); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
		if len(j.Split()) != 2 || len(j.Servers) != 4 {
			t.Errorf("%s: %d groups, %d servers", tt.name, len(j.Split()), len(j.Servers))
		}
	}
}
