// Package boshprobe checks a BOSH endpoint (XEP-0124, XEP-0206) without
// logging in: it creates a session, expects a session ID and stream
// features, and terminates the session. Finesse 12.0 to 12.5 desktops can
// reach the Notification Service this way, on port 7443 at /http-bind/.
package boshprobe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/textsafe"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// maxBody caps each answer: a session creation answer is a few hundred bytes.
const maxBody = 64 << 10

// maxHeader caps each answer's headers (net/http's own default is 10 MB):
// a BOSH answer's are a few hundred bytes.
const maxHeader = 16 << 10

// Config describes one probe.
type Config struct {
	URL      string // https://host:7443/http-bind/
	Domain   string // the XMPP domain, the 'to' of the session request
	TLS      *tls.Config
	Resolver *net.Resolver // nil means the system's
}

// Result is what the probe saw; Mechanisms are the SASL mechanisms offered.
type Result struct {
	URL         string
	SessionID   bool // a sid was issued (its value is a credential of sorts and is not kept)
	Mechanisms  []string
	Certificate *probe.Certificate
	Duration    time.Duration
}

// Error is a BOSH-level refusal: an HTTP status other than 200, or a
// terminate body with its condition.
type Error struct {
	Status    int    // the HTTP status
	Condition string // the terminate condition, not sanitized
}

func (e *Error) Error() string {
	if e.Condition != "" {
		return "BOSH session refused: " + textsafe.Line(e.Condition, 100)
	}
	return fmt.Sprintf("BOSH request answered HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// body is what the probe reads of a BOSH <body/>.
type body struct {
	XMLName   xml.Name `xml:"http://jabber.org/protocol/httpbind body"`
	SID       string   `xml:"sid,attr"`
	Type      string   `xml:"type,attr"`
	Condition string   `xml:"condition,attr"`
	Features  *struct {
		Mechanisms []string `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	} `xml:"http://etherx.jabber.org/streams features"`
}

// Probe creates a session and terminates it, within ctx's deadline.
func Probe(ctx context.Context, cfg Config) (Result, error) {
	start := time.Now()
	res := Result{URL: cfg.URL}
	tr := &http.Transport{
		// The handshake is the probe's own, so that a TLS failure keeps its
		// type and the certificate it was about.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, network, addr, cfg, &res)
		},
		// One connection for the three requests; none kept afterwards.
		MaxIdleConnsPerHost:    1,
		MaxResponseHeaderBytes: maxHeader,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	rid := randomRID()
	b, err := post(ctx, client, cfg.URL, fmt.Sprintf(`<body content="text/xml; charset=utf-8" hold="1" rid="%d" to="%s" ver="1.6" wait="10" xml:lang="en" xmpp:version="1.0" xmlns="http://jabber.org/protocol/httpbind" xmlns:xmpp="urn:xmpp:xbosh"/>`, rid, xmltext.Escape(cfg.Domain)), &res)
	if err != nil {
		res.Duration = time.Since(start)
		return res, err
	}
	if b.SID == "" {
		res.Duration = time.Since(start)
		return res, errors.New("BOSH session created without a sid")
	}
	res.SessionID = true
	sid := xmltext.Escape(b.SID)
	// XEP-0206 lets the features come in a later answer; ask once.
	if b.Features == nil {
		rid++
		if b, err = post(ctx, client, cfg.URL, fmt.Sprintf(`<body rid="%d" sid="%s" xmlns="http://jabber.org/protocol/httpbind"/>`, rid, sid), &res); err != nil {
			res.Duration = time.Since(start)
			return res, err
		}
	}
	if b.Features != nil {
		res.Mechanisms = b.Features.Mechanisms
	}
	rid++
	_, termErr := post(ctx, client, cfg.URL, fmt.Sprintf(`<body rid="%d" sid="%s" type="terminate" xmlns="http://jabber.org/protocol/httpbind"><presence type="unavailable" xmlns="jabber:client"/></body>`, rid, sid), &res)
	res.Duration = time.Since(start)
	switch {
	case b.Features == nil:
		return res, errors.New("BOSH session created but no stream features sent")
	case termErr != nil && !isTerminate(termErr):
		return res, fmt.Errorf("terminating the BOSH session: %w", termErr)
	}
	return res, nil
}

// isTerminate tells the answer to a terminate request that says so.
func isTerminate(err error) bool {
	var be *Error
	return errors.As(err, &be) && be.Status == http.StatusOK && be.Condition == ""
}

func post(ctx context.Context, client *http.Client, url, payload string, res *Result) (body, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(payload))
	if err != nil {
		return body{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return body{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return body{}, err
	}
	if len(data) > maxBody {
		return body{}, fmt.Errorf("BOSH answer larger than %d bytes", maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		return body{}, &Error{Status: resp.StatusCode}
	}
	var b body
	if err := xmltext.LimitDepth(xmltext.RawTokens(xml.NewDecoder(bytes.NewReader(data)))).Decode(&b); err != nil {
		return body{}, fmt.Errorf("BOSH answer is not a <body/>: %s", textsafe.Line(err.Error(), 200))
	}
	if b.Type == "terminate" {
		return b, &Error{Status: resp.StatusCode, Condition: b.Condition}
	}
	return b, nil
}

func dialTLS(ctx context.Context, network, addr string, cfg Config, res *Result) (net.Conn, error) {
	raw, err := (&net.Dialer{Resolver: cfg.Resolver}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn, cert, _, err := probe.Handshake(ctx, raw, cfg.TLS, "http/1.1")
	res.Certificate = cert
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return conn, nil
}

// randomRID starts the request IDs at a random point, as XEP-0124 asks,
// low enough that the few increments never overflow 2^53.
func randomRID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])%(1<<40) + 1
}
