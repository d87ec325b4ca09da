package systeminfo

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/textsafe"
)

// maxRedirects is enough for Finesse's HTTP ports (80, 8082), which redirect
// to 8445, plus a load balancer or two.
const maxRedirects = 3

// Client fetches SystemInfo. The zero value is ready to use, and a Client may
// be used by several goroutines at once.
type Client struct {
	// HTTP carries the caller's transport and TLS settings. Its cookie jar
	// and redirect policy are ignored (see Fetch). Nil means a client with
	// system roots, TLS 1.2 or later and a 30 s overall timeout.
	HTTP *http.Client
	// MaxBodyBytes caps the body read; 0 or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// UserAgent is sent as User-Agent; "" means "finessectl".
	UserAgent string
}

// Fetch GETs base + Path (base is like https://host:8445; its path, query and
// user info are dropped) and returns the parsed SystemInfo.
//
// It never sends credentials or cookies: five bad passwords to a
// serviceability API lock the account for five minutes. It follows at most
// three redirects and never from https to http.
//
// Errors, which callers map to exit codes:
//   - IN_SERVICE: (info, nil).
//   - Finesse says it is not in service (200 with another status, 503 with
//     ApiErrors or SystemInfo): (info or nil, *NotInServiceError), unwrapped.
//   - The server answered with something else (another status, HTML, JSON,
//     no <status>, truncated, too big, too many redirects): an error wrapping
//     ErrUnusable.
//   - Transport failures (DNS, refused, reset, TLS, ctx deadline): the
//     original error wrapped, for errors.As and errors.Is.
//
// The context bounds the whole exchange, body included.
func (c *Client) Fetch(ctx context.Context, base *url.URL) (*Info, error) {
	if base == nil {
		return nil, errors.New("systeminfo: no URL to fetch")
	}
	u := endpoint(base)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("systeminfo: unsupported URL scheme %s in %s, want https", quote([]byte(u.Scheme), 20), textsafe.Line(u.String(), quoteMax))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("systeminfo: no host in URL %s", textsafe.Line(u.String(), quoteMax))
	}
	fail := func(final *url.URL, err error) error {
		e := &fetchError{url: u.String(), err: withContext(ctx, err)}
		if final != nil && final.String() != u.String() {
			e.final = final.String()
		}
		return e
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(nil, err)
	}
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("User-Agent", c.userAgent())
	// A proxy's cached copy would report the health of some time ago.
	req.Header.Set("Cache-Control", "no-cache")

	hc := c.httpClient()
	var last *url.URL // the latest redirect target, for error messages
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		last = req.URL
		return checkRedirect(req, via)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// Drop url.Error's own `Get "url":` prefix; fetchError has one.
			err = ue.Err
		}
		return nil, fail(redact(last), err)
	}
	defer resp.Body.Close()
	final := redact(resp.Request.URL)

	body, err := readBody(resp, c.maxBodyBytes())
	if err == nil && ctx != nil && ctx.Err() != nil {
		// net/http (seen with Go 1.26, HTTP/1.1 chunked) sometimes ends a
		// body cut off by the context with a clean EOF; a body read while
		// the context expired cannot be trusted to be whole.
		err = fmt.Errorf("reading body: %w", ctx.Err())
	}
	if err != nil {
		return nil, fail(final, err)
	}
	info, err := interpret(resp.StatusCode, body)
	var nis *NotInServiceError
	switch {
	case err == nil:
		return info, nil
	case errors.As(err, &nis):
		return info, nis
	}
	return nil, fail(final, err)
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

// readBody reads the whole body, refusing more than max bytes so that a
// hostile or broken server cannot make the checker allocate without bound.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, unusablef("response exceeds %s (Content-Length %d)", size(limit), resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
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
	if ctx == nil {
		return err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// endpoint is base with the path replaced by Path and everything that could
// carry credentials or change the resource removed.
func endpoint(base *url.URL) *url.URL {
	u := *base
	u.Scheme = strings.ToLower(u.Scheme)
	u.User = nil
	u.Opaque = ""
	u.Path, u.RawPath = Path, ""
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

// checkRedirect replaces any redirect policy of the caller's client.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return unusablef("too many redirects (more than %d)", maxRedirects)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return unusablef("refusing redirect from https to %s", quote([]byte(req.URL.Scheme), 20))
	}
	// net/http turns user info in a Location into Basic credentials; a
	// server must not be able to make the checker lock an account.
	req.URL.User = nil
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	return nil
}

func (c *Client) httpClient() *http.Client {
	base := c.HTTP
	if base == nil {
		base = defaultHTTPClient()
	}
	hc := *base
	// Keep the caller's transport and timeout, but never a cookie jar or a
	// redirect policy: either could send something to a serviceability API.
	// Fetch sets its own CheckRedirect.
	hc.Jar = nil
	hc.CheckRedirect = nil
	return &hc
}

// defaultHTTPClient is shared so that repeated fetches reuse connections.
var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxResponseHeaderBytes = 64 << 10
	// The timeout is a backstop for callers whose context has no deadline.
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
})

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
