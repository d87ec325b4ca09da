package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestHandshakeError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		tls  bool
	}{
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{"hostname", x509.HostnameError{Host: "a"}, true},
		{"not tls", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
		{"version", errors.New("tls: server selected unsupported protocol version 301"), true},
		{"peer alert", &net.OpError{Op: "remote error", Err: errors.New("tls: protocol version not supported")}, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"i/o timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, false},
		{"reset", &net.OpError{Op: "read", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, false},
		{"hang-up", io.EOF, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HandshakeError(tt.err)
			var te *TLSError
			if errors.As(got, &te) != tt.tls {
				t.Fatalf("HandshakeError(%v) = %v; TLS failure %v, want %v", tt.err, got, !tt.tls, tt.tls)
			}
			if !errors.Is(got, tt.err) && got != tt.err {
				t.Fatalf("HandshakeError(%v) lost the cause", tt.err)
			}
			if HandshakeError(got) != got {
				t.Fatal("HandshakeError is not idempotent")
			}
		})
	}
	if HandshakeError(nil) != nil {
		t.Fatal("HandshakeError(nil) != nil")
	}
}

func TestCertificateFromError(t *testing.T) {
	leaf := &x509.Certificate{DNSNames: []string{"finesse-a.example.test"}}
	err := fmt.Errorf("GET: %w", &tls.CertificateVerificationError{UnverifiedCertificates: []*x509.Certificate{leaf}, Err: x509.UnknownAuthorityError{}})
	c := CertificateFromError(err)
	if c == nil || len(c.DNSNames) != 1 || c.DNSNames[0] != "finesse-a.example.test" {
		t.Fatalf("CertificateFromError = %+v", c)
	}
	if CertificateFromError(io.EOF) != nil || CertificateOf(nil) != nil {
		t.Fatal("no certificate expected")
	}
}
