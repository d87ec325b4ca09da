package systeminfo

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/finessectl/finessectl/internal/probe"
)

// transport is built on first use so that the zero Client works and every
// Fetch of a Client shares one configuration.
func (c *Client) transport() *http.Transport {
	c.once.Do(func() {
		cfg := &tls.Config{}
		if c.TLS != nil {
			cfg = c.TLS.Clone()
		}
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS12
		}
		c.rt = &http.Transport{
			// No proxy, whatever the environment says: see Fetch.
			Proxy:                  nil,
			DialContext:            (&net.Dialer{Resolver: c.Resolver}).DialContext,
			TLSClientConfig:        cfg,
			MaxResponseHeaderBytes: MaxHeaderBytes,
			DisableKeepAlives:      true,
			// A custom dialer and TLS config turn HTTP/2 off unless forced;
			// Finesse's web proxy speaks it.
			ForceAttemptHTTP2: true,
		}
	})
	return c.rt
}

// roundTripError explains why http.Client.Do failed, deciding between a
// server that answered badly (ErrUnusable), a TLS failure (*probe.TLSError)
// and the network.
func roundTripError(ctx context.Context, err error, rec *recorder) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// Drop url.Error's own `Get "url":` prefix; fetchError has one.
		err = ue.Err
	}
	handshakeErr, answered := rec.outcome()
	switch {
	case errors.Is(err, ErrUnusable):
		return err // a redirect checkRedirect refused, judged already
	case plainHTTP(err):
		return unusable(fmt.Errorf("plain HTTP on the HTTPS port: %w", err))
	case handshakeErr != nil && errors.Is(err, handshakeErr):
		return probe.HandshakeError(err)
	case ctx.Err() != nil:
		return err
	case headerOverflow(err):
		return unusable(fmt.Errorf("response headers exceed %s: %w", size(MaxHeaderBytes), err))
	case answered && !networkFailure(err):
		// net/http reports bad framing (a negative or conflicting
		// Content-Length, a status line that is not one) as plain
		// errors without a type; what is left once the network's own
		// failures are excluded is the server's HTTP.
		return malformed(err)
	}
	return err
}

func malformed(err error) error {
	return unusable(fmt.Errorf("malformed HTTP response: %w", err))
}

// plainHTTP recognises an HTTP server answering a TLS ClientHello. net/http
// turns the record error into ErrSchemeMismatch only when it is not wrapped.
func plainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.Is(err, http.ErrSchemeMismatch) ||
		errors.As(err, &rh) && bytes.HasPrefix(rh.RecordHeader[:], []byte("HTTP/"))
}

// headerOverflow recognises MaxResponseHeaderBytes being hit, which net/http
// reports only in words: HTTP/1 and HTTP/2 each in their own.
func headerOverflow(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "server response headers exceeded") ||
		strings.Contains(msg, "response header list larger than advertised limit")
}

// networkFailure reports errors of the connection rather than of what the
// server said: deadlines, cancellation, resets, a peer that hung up, and
// anything net reports (which includes TLS alerts after the handshake).
func networkFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// recorder collects what httptrace reports about one Fetch. The transport
// calls it from its own goroutines, and a dial the request gave up on can
// still report after Fetch has returned: finish stops the recording.
type recorder struct {
	mu           sync.Mutex
	finished     bool
	timings      []probe.Timing
	dnsStart     time.Time
	connStart    map[string]time.Time // by network and address: dials may race
	tlsStart     time.Time
	wrote        time.Time
	cert         *probe.Certificate
	handshakeErr error
	answered     bool // a response's first byte arrived
}

func (r *recorder) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		// Each redirect hop starts here; what decides the outcome is the
		// last hop's.
		GetConn: func(string) {
			r.locked(func() { r.handshakeErr, r.answered, r.cert = nil, false, nil })
		},
		DNSStart: func(httptrace.DNSStartInfo) { r.mark(&r.dnsStart) },
		DNSDone:  func(httptrace.DNSDoneInfo) { r.since("dns", &r.dnsStart) },
		ConnectStart: func(network, addr string) {
			r.locked(func() {
				if r.connStart == nil {
					r.connStart = make(map[string]time.Time)
				}
				r.connStart[network+" "+addr] = time.Now()
			})
		},
		ConnectDone: func(network, addr string, _ error) {
			r.locked(func() {
				key := network + " " + addr
				if t, ok := r.connStart[key]; ok {
					delete(r.connStart, key)
					r.timings = append(r.timings, probe.Timing{Phase: "connect", Duration: time.Since(t)})
				}
			})
		},
		TLSHandshakeStart: func() { r.mark(&r.tlsStart) },
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			r.since("tls", &r.tlsStart)
			r.locked(func() {
				r.handshakeErr = err
				if cert := probe.CertificateOf(cs.PeerCertificates); cert != nil {
					r.cert = cert
				} else if cert := probe.CertificateFromError(err); cert != nil {
					r.cert = cert
				}
			})
		},
		// The request phase runs from the request written to the first byte
		// of the answer. HTTP/2 writes and reads on separate goroutines and
		// may report the first byte before the write, so the phase starts
		// at the connection's readiness until the write is reported.
		GotConn: func(httptrace.GotConnInfo) { r.mark(&r.wrote) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				r.mark(&r.wrote)
			}
		},
		GotFirstResponseByte: func() {
			r.since("request", &r.wrote)
			r.locked(func() { r.answered = true })
		},
	}
}

// locked runs f unless the recording has finished.
func (r *recorder) locked(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		f()
	}
}

func (r *recorder) mark(t *time.Time) {
	r.locked(func() { *t = time.Now() })
}

// since records the phase that began at *start, if it did.
func (r *recorder) since(phase string, start *time.Time) {
	r.locked(func() {
		if !start.IsZero() {
			r.timings = append(r.timings, probe.Timing{Phase: phase, Duration: time.Since(*start)})
			*start = time.Time{}
		}
	})
}

func (r *recorder) add(phase string, d time.Duration) {
	r.locked(func() { r.timings = append(r.timings, probe.Timing{Phase: phase, Duration: d}) })
}

// outcome is what the last hop got to: its handshake error, if any, and
// whether a response started to arrive.
func (r *recorder) outcome() (handshakeErr error, answered bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handshakeErr, r.answered
}

func (r *recorder) finish() ([]probe.Timing, *probe.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = true
	return r.timings, r.cert
}
