package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

func TestIssuedCertificateVerifies(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"finesse-a.example.test", "127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"finesse-a.example.test", "127.0.0.1"} {
		opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}
		if _, err := leaf.Cert.Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.example.test"}); err == nil {
		t.Error("certificate verified for a name it does not carry")
	}
}

func TestExpiredCertificateFailsVerification(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool()})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("want an expiry error, got %v", err)
	}
}

func TestLeafServesTLS(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("handshake against the issued certificate: %v", err)
	}
	conn.Close()
}

func TestIssueValidKeepsThePeriod(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		wantErr             bool
	}{
		{"expired after a full term", now.AddDate(0, 0, -400), now.AddDate(0, 0, -1), false},
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), false},
		{"empty period", now, now, true},
		{"reversed period", now, now.Add(-time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, err := ca.IssueValid([]string{"finesse-a.example.test"}, tc.notBefore, tc.notAfter)
			if tc.wantErr {
				if err == nil {
					t.Fatal("issued a certificate with an impossible validity period")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !leaf.Cert.NotBefore.Equal(tc.notBefore) || !leaf.Cert.NotAfter.Equal(tc.notAfter) {
				t.Errorf("valid %v to %v, want %v to %v", leaf.Cert.NotBefore, leaf.Cert.NotAfter, tc.notBefore, tc.notAfter)
			}
		})
	}
}
