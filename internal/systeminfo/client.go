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
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/textsafe"
)

// maxRedirects is enough for a load balancer or two in front of the node.
const maxRedirects = 3

// MaxHeaderBytes caps the response headers Fetch reads. Finesse sends well
// under 1 KiB of them; a server that sends more is not one to trust with
// memory.
const MaxHeaderBytes = 64 << 10

// Client fetches SystemInfo over its own transport. Safe for concurrent use.
//
// The zero value is ready to use. The fields are read once, when the first
// Fetch builds the transport; later changes have no effect.
type Client struct {
	// TLS holds trust and client settings; nil means the system roots. It is
	// cloned, never modified. TLS 1.2 is the minimum unless it sets one.
	TLS *tls.Config
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// MaxBodyBytes caps the body read; 0 or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// UserAgent is sent as User-Agent; "" means "finessectl".
	UserAgent string

	once sync.Once
	rt   *http.Transport
}

// Response is what one SystemInfo request saw. Fetch always returns a non-nil
// *Response, also together with an error, so a failed check can still show
// how far it got (timings, certificate, HTTP status). Its strings are the
// server's and the caller's, not sanitized.
type Response struct {
	URL        string // requested, without user info
	FinalURL   string // where redirects led, "" when none
	HTTPStatus int    // 0 when no response arrived
	Proto      string // "HTTP/1.1", "HTTP/2.0"; "" when none
	// Info is the parsed SystemInfo (also when not IN_SERVICE); nil when
	// none.
	Info *Info
	// Certificate is the leaf certificate of the HTTPS port, also when
	// verification failed; nil when no handshake got that far.
	Certificate *probe.Certificate
	// Timings lists the phases in order, only those that happened: "dns",
	// "connect", "tls", "request" (request written until the first byte of
	// the response) and "body". A redirect repeats the phases of each hop.
	Timings []probe.Timing
}

// Fetch GETs base + finesse.SystemInfoPath (base is like https://host:8445; its path, query and
// user info are dropped) and reports what it saw.
//
// Only https is accepted, and every request goes straight to the node:
// HTTPS_PROXY and friends are ignored, because through a proxy the check
// would test the proxy instead of the node. Every Fetch dials a new
// connection, so that its timings are those of a fresh client.
//
// It never sends credentials or cookies: five bad passwords to a
// serviceability API lock the account for five minutes. It follows at most
// three redirects, never from https to http and never to another host (a
// different port on the same host is fine: Finesse redirects 8082 to 8445).
//
// Errors, which callers map to exit codes:
//   - IN_SERVICE: nil.
//   - Finesse says it is not in service (200 with another status, 503 with
//     ApiErrors or SystemInfo): a *NotInServiceError, unwrapped.
//   - The server answered with something else (another status, HTML, JSON,
//     no <status>, truncated, too big, headers over MaxHeaderBytes, bad HTTP
//     framing, plain HTTP on the HTTPS port, too many redirects, a redirect
//     to another host): an error wrapping ErrUnusable.
//   - The TLS handshake failed for reasons of TLS (untrusted, expired or
//     misnamed certificate, no common version, an alert): an error wrapping
//     *probe.TLSError, which wraps the original, so that errors.As still
//     finds *tls.CertificateVerificationError or x509.HostnameError.
//   - Other transport failures (DNS, refused, reset, ctx deadline, a
//     connection closed without an answer): the original error wrapped, for
//     errors.As and errors.Is.
//
// The context bounds the whole exchange, body included; give it a deadline.
func (c *Client) Fetch(ctx context.Context, base *url.URL) (*Response, error) {
	out := &Response{}
	if ctx == nil {
		return out, errors.New("systeminfo: nil context")
	}
	if base == nil {
		return out, errors.New("systeminfo: no URL to fetch")
	}
	u := endpoint(base)
	out.URL = u.String()
	if u.Scheme != "https" {
		return out, fmt.Errorf("systeminfo: unsupported URL scheme %s in %s, want https", quote([]byte(u.Scheme), 20), textsafe.Line(out.URL, quoteMax))
	}
	if u.Host == "" {
		return out, fmt.Errorf("systeminfo: no host in URL %s", textsafe.Line(out.URL, quoteMax))
	}

	rec := &recorder{}
	var final *url.URL // the latest redirect target, then the response's URL
	done := func(err error) (*Response, error) {
		out.Timings, out.Certificate = rec.finish()
		if final != nil && final.String() != out.URL {
			out.FinalURL = final.String()
		}
		var nis *NotInServiceError
		if err == nil || errors.As(err, &nis) {
			return out, err
		}
		return out, &fetchError{url: out.URL, final: out.FinalURL, err: withContext(ctx, err)}
	}

	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, rec.trace()), http.MethodGet, out.URL, nil)
	if err != nil {
		return done(err)
	}
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("User-Agent", c.userAgent())
	// A proxy's cached copy would report the health of some time ago.
	req.Header.Set("Cache-Control", "no-cache")

	rt := c.transport()
	hc := &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			final = redact(req.URL)
			return checkRedirect(req, via)
		},
	}
	resp, err := hc.Do(req)
	if resp != nil {
		// Also the redirect that CheckRedirect refused.
		out.HTTPStatus, out.Proto = resp.StatusCode, resp.Proto
	}
	if err != nil {
		// net/http lets a dial that its request gave up on run on without
		// the request's deadline, to reuse the connection later. Without
		// keep-alives nothing will, so cancel it; dials that requests still
		// wait for, such as a concurrent Fetch's, are left alone.
		rt.CloseIdleConnections()
		return done(roundTripError(ctx, err, rec))
	}
	defer resp.Body.Close()
	final = redact(resp.Request.URL)

	start := time.Now()
	body, err := readBody(ctx, resp, c.maxBodyBytes())
	rec.add("body", time.Since(start))
	if err != nil {
		return done(err)
	}
	info, err := interpret(resp.StatusCode, body)
	out.Info = info
	return done(err)
}

// interpret turns a status code and a complete body into Fetch's result.
func interpret(code int, body []byte) (*Info, error) {
	switch code {
	case http.StatusOK:
		info, err := parse(body)
		if err != nil {
			return nil, unusable(fmt.Errorf("%s, but %w", statusLine(code), notSystemInfo(body, err)))
		}
		if info.Status == "" {
			return nil, unusablef("%s, but the SystemInfo has no <status>", statusLine(code))
		}
		if info.InService() {
			return info, nil
		}
		return info, &NotInServiceError{HTTPStatus: code, Status: info.Status, Reason: info.StatusReason, Info: info}

	case http.StatusServiceUnavailable:
		// Finesse answers 503 to every request while out of service; a 503
		// without Finesse's body is a proxy or load balancer talking.
		if info, err := parse(body); err == nil {
			return info, &NotInServiceError{HTTPStatus: code, Status: info.Status, Reason: info.StatusReason, Info: info}
		}
		if errs, err := parseAPIErrors(body); err == nil {
			return nil, &NotInServiceError{HTTPStatus: code, Reason: reason(errs)}
		}
		return nil, unusablef("%s, not a Finesse response (%s)", statusLine(code), describe(body))
	}

	if errs, err := parseAPIErrors(body); err == nil {
		return nil, unusablef("%s: %s", statusLine(code), apiErrorsText(errs))
	}
	return nil, unusablef("%s (%s)", statusLine(code), describe(body))
}

// notSystemInfo explains a 200 body that did not parse as SystemInfo.
func notSystemInfo(body []byte, parseErr error) error {
	if errs, err := parseAPIErrors(body); err == nil {
		return fmt.Errorf("the body is ApiErrors: %s", apiErrorsText(errs))
	}
	switch kind(body) {
	case "empty":
		return errors.New("the body is empty")
	case "html", "json":
		return fmt.Errorf("the body is %s", describe(body))
	}
	return parseErr
}

// reason picks what a 503's ApiErrors says; Finesse puts
// SERVER_OUT_OF_SERVICE in ErrorMessage.
func reason(errs []APIError) string {
	for _, e := range errs {
		if e.Message != "" {
			return e.Message
		}
	}
	for _, e := range errs {
		if e.Type != "" {
			return e.Type
		}
	}
	return ""
}

func apiErrorsText(errs []APIError) string {
	if len(errs) == 0 {
		return "empty ApiErrors"
	}
	e := errs[0]
	var parts []string
	for _, s := range []string{e.Type, e.Message} {
		if s != "" {
			parts = append(parts, textsafe.Line(s, quoteMax))
		}
	}
	text := strings.Join(parts, ": ")
	if e.Data != "" {
		text += " (data: " + textsafe.Line(e.Data, quoteMax) + ")"
	}
	if text == "" {
		text = "ApiError without detail"
	}
	if len(errs) > 1 {
		text += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return text
}

// kind sniffs a body that is not the expected XML.
func kind(body []byte) string {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	switch {
	case len(b) == 0:
		return "empty"
	case b[0] == '{' || b[0] == '[':
		return "json"
	}
	head := asciiLower(b[:min(len(b), 1024)])
	if bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.Contains(head, []byte("<html")) {
		return "html"
	}
	return "other"
}

// describe says in a few words what a foreign body is.
func describe(body []byte) string {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	switch kind(body) {
	case "empty":
		return "empty body"
	case "json":
		return "JSON, not XML: " + quote(b, 80)
	case "html":
		if t := htmlTitle(b); t != "" {
			return "an HTML page titled " + t
		}
		return "an HTML page: " + quote(b, 80)
	}
	return "body starts " + quote(b, 80)
}

// htmlTitle returns the quoted <title> of an HTML page, or "".
func htmlTitle(b []byte) string {
	b = b[:min(len(b), 8192)]
	lower := asciiLower(b) // same byte offsets as b
	i := bytes.Index(lower, []byte("<title"))
	if i < 0 {
		return ""
	}
	j := bytes.IndexByte(lower[i:], '>')
	if j < 0 {
		return ""
	}
	start := i + j + 1
	end := bytes.Index(lower[start:], []byte("</title"))
	if end < 0 {
		return ""
	}
	title := bytes.TrimSpace(b[start : start+end])
	if len(title) == 0 {
		return ""
	}
	return quote(title, 100)
}

// asciiLower lower-cases ASCII letters only, so that offsets in the result
// are offsets in b (bytes.ToLower can change the length of UTF-8 text).
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// readBody reads the whole body, refusing more than limit bytes so that a
// hostile or broken server cannot make the checker allocate without bound.
func readBody(ctx context.Context, resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, unusablef("response exceeds %s (Content-Length %d)", size(limit), resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && ctx.Err() != nil {
		// net/http (seen with Go 1.26, HTTP/1.1 chunked) sometimes ends a
		// body cut off by the context with a clean EOF; a body read while
		// the context expired cannot be trusted to be whole.
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() == nil && !networkFailure(err) {
			return nil, malformed(fmt.Errorf("reading body: %w", err))
		}
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, unusablef("response exceeds %s", size(limit))
	}
	return body, nil
}

func size(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// withContext makes sure an error caused by the caller's context says so to
// errors.Is, whatever error the transport chose to report for the closed
// connection.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// endpoint is base with the path replaced by SystemInfo's and everything that could
// carry credentials or change the resource removed.
func endpoint(base *url.URL) *url.URL {
	u := *base
	u.Scheme = strings.ToLower(u.Scheme)
	u.User = nil
	u.Opaque = ""
	u.Path, u.RawPath = finesse.SystemInfoPath, ""
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return &u
}

func redact(u *url.URL) *url.URL {
	if u == nil || u.User == nil {
		return u
	}
	c := *u
	c.User = nil
	return &c
}

// checkRedirect keeps a redirect on this node: a server that sends the
// checker elsewhere answered, but not as this Finesse node.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return unusablef("too many redirects (more than %d)", maxRedirects)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return unusablef("refusing redirect from https to %s", quote([]byte(req.URL.Scheme), 20))
	}
	if from, to := via[0].URL.Hostname(), req.URL.Hostname(); !sameHost(from, to) {
		return unusablef("redirected to another host %s, not %s", to, from)
	}
	// net/http turns user info in a Location into Basic credentials; a
	// server must not be able to make the checker lock an account.
	req.URL.User = nil
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	return nil
}

// sameHost compares host names as DNS does: without regard to case or to a
// trailing dot.
func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func (c *Client) maxBodyBytes() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.MaxBodyBytes
}

func (c *Client) userAgent() string {
	if c.UserAgent == "" {
		return "finessectl"
	}
	return c.UserAgent
}
