package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

func TestSystemInfoCode(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"refused", fmt.Errorf("GET x: %w", refused), SystemInfoUnreachable},
		{"deadline", fmt.Errorf("GET x: %w", context.DeadlineExceeded), SystemInfoUnreachable},
		{"dns", fmt.Errorf("GET x: %w", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), SystemInfoUnreachable},
		{"reset", fmt.Errorf("GET x: %w", io.ErrUnexpectedEOF), SystemInfoUnreachable},
		{"unknown authority", fmt.Errorf("GET x: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), SystemInfoTLS},
		{"wrong name", fmt.Errorf("GET x: %w", x509.HostnameError{Host: "a"}), SystemInfoTLS},
		{"expired", fmt.Errorf("GET x: %w", x509.CertificateInvalidError{Reason: x509.Expired}), SystemInfoTLS},
		{"not tls", fmt.Errorf("GET x: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), SystemInfoTLS},
		{"peer alert", fmt.Errorf("GET x: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}), SystemInfoTLS},
		{"out of service", &systeminfo.NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE"}, NotInService},
		{"503", &systeminfo.NotInServiceError{HTTPStatus: 503, Reason: "SERVER_OUT_OF_SERVICE"}, NotInService},
		{"unusable", fmt.Errorf("HTTP 404: %w", systeminfo.ErrUnusable), SystemInfoUnusable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := systemInfoCode(tt.err); got != tt.want {
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
		want Code
	}{
		{"refused", phase(xmppprobe.PhaseConnect, &net.OpError{Op: "dial", Err: errors.New("refused")}), XMPPConnectionFailed},
		{"silent", phase(xmppprobe.PhaseStream, context.DeadlineExceeded), XMPPConnectionFailed},
		{"stream closed", phase(xmppprobe.PhaseStream, xmppprobe.ErrStreamClosed), XMPPConnectionFailed},
		{"stream error", phase(xmppprobe.PhaseStream, &xmppprobe.StreamError{Condition: "system-shutdown"}), XMPPConnectionFailed},
		{"no starttls", phase(xmppprobe.PhaseStartTLS, xmppprobe.ErrNoStartTLS), XMPPConnectionFailed},
		{"flood", phase(xmppprobe.PhaseStream, xmppprobe.ErrTooMuchData), XMPPConnectionFailed},
		{"untrusted", phase(xmppprobe.PhaseTLS, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), XMPPTLS},
		{"untrusted after starttls", phase(xmppprobe.PhaseStartTLS, x509.HostnameError{}), XMPPTLS},
		{"bad password", phase(xmppprobe.PhaseAuth, &xmppprobe.AuthError{Condition: "not-authorized"}), XMPPAuthFailed},
		{"auth backend hangs", phase(xmppprobe.PhaseAuth, context.DeadlineExceeded), XMPPAuthFailed},
		{"service stops during auth", phase(xmppprobe.PhaseAuth, &xmppprobe.StreamError{Condition: "system-shutdown"}), XMPPConnectionFailed},
		{"hang-up during auth", phase(xmppprobe.PhaseAuth, fmt.Errorf("server closed the connection: %w", io.EOF)), XMPPConnectionFailed},
		{"flood during auth", phase(xmppprobe.PhaseAuth, xmppprobe.ErrTooMuchData), XMPPConnectionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := xmppCode(tt.err); got != tt.want {
				t.Fatalf("xmppCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestResultExitCodeIsFirstFailingServerInOrder(t *testing.T) {
	srv := func(c Code) ServerResult {
		if c == OK {
			return ServerResult{}
		}
		return ServerResult{Failure: &Failure{Code: c, Err: errors.New("x")}}
	}
	tests := []struct {
		codes []Code
		want  Code
	}{
		{nil, OK},
		{[]Code{OK, OK}, OK},
		{[]Code{OK, FinesseUnavailable, SystemInfoUnreachable}, FinesseUnavailable},
		{[]Code{XMPPAuthFailed, NotInService}, XMPPAuthFailed},
		{[]Code{OK, OK, Internal}, Internal},
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

func TestScenariosCoverEveryCodeOnce(t *testing.T) {
	codes := []Code{OK, SystemInfoUnreachable, SystemInfoTLS, NotInService, SystemInfoUnusable,
		XMPPConnectionFailed, XMPPTLS, XMPPAuthFailed, FinesseUnavailable, FinessePresenceMissing, Usage, Internal}
	if len(Scenarios) != len(codes) {
		t.Fatalf("%d scenarios for %d codes", len(Scenarios), len(codes))
	}
	for i, c := range codes {
		s := Scenarios[i]
		if s.Code != c || s.Meaning == "" {
			t.Errorf("Scenarios[%d] = %+v, want code %d with a meaning", i, s, c)
		}
		if c >= 10 && c < 64 && (s.Guide == "" || s.Recovery == "") {
			t.Errorf("check failure %d lacks the guide's scenario or recovery", c)
		}
		if c == 1 || c == 2 {
			t.Errorf("code %d would be confused with cobra's or Go's panic exit", c)
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
		if got := (ServerResult{SystemInfo: tt.info}).AlternateHost(); got != tt.want {
			t.Errorf("AlternateHost(%+v) = %q, want %q", tt.info, got, tt.want)
		}
	}
}
