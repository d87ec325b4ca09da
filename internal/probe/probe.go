// Package probe holds what every protocol probe reports besides its verdict:
// how long each phase took, the certificate the peer presented, and whether
// a TLS handshake failed for reasons of TLS itself rather than the network.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Timing is the duration of one phase of a probe, such as dns, connect, tls.
type Timing struct {
	Phase    string
	Duration time.Duration
}

// Certificate is the leaf certificate a server presented, as seen before or
// after verification. Its strings are the server's, not sanitized.
type Certificate struct {
	Subject   string
	Issuer    string
	DNSNames  []string
	NotBefore time.Time
	NotAfter  time.Time
}

// CertificateOf describes the leaf of a chain; nil when there is none.
func CertificateOf(chain []*x509.Certificate) *Certificate {
	if len(chain) == 0 || chain[0] == nil {
		return nil
	}
	c := chain[0]
	return &Certificate{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		DNSNames:  append([]string(nil), c.DNSNames...),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
	}
}

// CertificateFromError recovers the certificate a failed verification was
// about, so that an expired or foreign certificate can still be described.
func CertificateFromError(err error) *Certificate {
	var v *tls.CertificateVerificationError
	if errors.As(err, &v) {
		return CertificateOf(v.UnverifiedCertificates)
	}
	return nil
}

// TLSError is a TLS handshake that failed because of TLS itself: an
// untrusted, expired or misnamed certificate, no common protocol version or
// cipher suite, an alert from the peer, or a peer that does not speak TLS.
// A handshake cut short by the network or the deadline is not one.
type TLSError struct {
	Err error
}

func (e *TLSError) Error() string { return "TLS handshake: " + e.Err.Error() }
func (e *TLSError) Unwrap() error { return e.Err }

// HandshakeError classifies an error returned by a TLS handshake: it wraps
// it in a *TLSError unless the network or the context caused it. crypto/tls
// reports several protocol failures (an unsupported version the server
// chose, say) as plain strings, so this decides by exclusion.
func HandshakeError(err error) error {
	if err == nil {
		return nil
	}
	var te *TLSError
	if errors.As(err, &te) || networkFailure(err) {
		return err
	}
	return &TLSError{Err: err}
}

// Handshake secures raw with TLS under cfg (nil: defaults), offering the
// ALPN protocols given. It returns the certificate the server presented,
// also when verification failed, for that is what an operator needs to see
// then, and the protocol version once the server chose one, also before a
// verification failure. A failure of TLS itself comes back as *TLSError
// (see HandshakeError).
func Handshake(ctx context.Context, raw net.Conn, cfg *tls.Config, alpn ...string) (conn *tls.Conn, cert *Certificate, version string, err error) {
	c := cfg.Clone()
	if c == nil {
		c = &tls.Config{}
	}
	c.NextProtos = alpn
	conn = tls.Client(raw, c)
	err = conn.HandshakeContext(ctx)
	st := conn.ConnectionState()
	if st.Version != 0 {
		version = tls.VersionName(st.Version)
	}
	if err != nil {
		return nil, CertificateFromError(err), version, HandshakeError(err)
	}
	return conn, CertificateOf(st.PeerCertificates), version, nil
}

// networkFailure reports errors of the transport under TLS: deadlines,
// cancellation, resets, and a peer that hung up mid-handshake.
func networkFailure(err error) bool {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		// crypto/tls reports an alert from the peer this way: TLS, not network.
		return false
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}
