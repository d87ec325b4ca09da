package systeminfo

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/finessectl/finessectl/internal/textsafe"
)

// ErrUnusable means the server answered, but not with anything that says
// whether Finesse is in service: a proxy's error page, a login page, JSON, a
// truncated or oversized body, a redirect loop. Test with errors.Is.
var ErrUnusable = errors.New("SystemInfo response is unusable")

// Server-supplied text is capped at this many runes wherever it is quoted in
// an error, and a whole error message at errorMax.
const (
	quoteMax = 200
	errorMax = 1000
)

// NotInServiceError means Finesse answered like Finesse, and said it is not in
// service: a SystemInfo whose status is not IN_SERVICE, or a 503 carrying
// Finesse's ApiErrors body (or a SystemInfo).
type NotInServiceError struct {
	HTTPStatus int    // 200 or 503 usually
	Status     string // <status> verbatim, e.g. OUT_OF_SERVICE, PARTIAL_SERVICE; "" for a 503 ApiErrors
	Reason     string // <statusReason>, or the ApiError ErrorMessage (e.g. SERVER_OUT_OF_SERVICE) for a 503
	Info       *Info  // the parsed SystemInfo when the body was one, else nil
}

// Error reads like "status is OUT_OF_SERVICE (reason: CTI connection lost)" or
// "HTTP 503 Service Unavailable: SERVER_OUT_OF_SERVICE". The fields hold the
// server's text verbatim, so it is sanitized here.
func (e *NotInServiceError) Error() string {
	var parts []string
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
		parts = append(parts, statusLine(e.HTTPStatus))
	}
	switch {
	case e.Status != "" && e.Reason != "":
		parts = append(parts, fmt.Sprintf("status is %s (reason: %s)", textsafe.Line(e.Status, quoteMax), textsafe.Line(e.Reason, quoteMax)))
	case e.Status != "":
		parts = append(parts, "status is "+textsafe.Line(e.Status, quoteMax))
	case e.Reason != "":
		parts = append(parts, textsafe.Line(e.Reason, quoteMax))
	}
	if len(parts) == 0 {
		return "not in service"
	}
	return strings.Join(parts, ": ")
}

// unusableError is an ErrUnusable with the detail of what was wrong. It keeps
// the detail unwrappable (an *xml.SyntaxError, say) while printing it
// sanitized, because parser messages quote the server's element names.
type unusableError struct {
	detail error
}

func unusable(detail error) error { return &unusableError{detail: detail} }

func unusablef(format string, args ...any) error { return unusable(fmt.Errorf(format, args...)) }

func (e *unusableError) Error() string {
	return ErrUnusable.Error() + ": " + textsafe.Line(e.detail.Error(), errorMax)
}

func (e *unusableError) Unwrap() []error { return []error{ErrUnusable, e.detail} }

// fetchError names the request that failed and keeps the cause unwrappable,
// so that callers can still use errors.As for *tls.CertificateVerificationError,
// x509.HostnameError, *net.OpError and errors.Is for context.DeadlineExceeded.
// Its text is sanitized because even transport errors can carry the server's
// words: x509.HostnameError quotes the names in the server's certificate.
type fetchError struct {
	url   string // as requested, without user info
	final string // where redirects led, if elsewhere
	err   error
}

func (e *fetchError) Error() string {
	s := "GET " + textsafe.Line(e.url, quoteMax)
	if e.final != "" {
		s += " (redirected to " + textsafe.Line(e.final, quoteMax) + ")"
	}
	return s + ": " + textsafe.Line(e.err.Error(), errorMax)
}

func (e *fetchError) Unwrap() error { return e.err }

// statusLine uses Go's reason phrase rather than the server's, which is
// arbitrary text on HTTP/1.
func statusLine(code int) string {
	return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)))
}
