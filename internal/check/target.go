package check

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/finessectl/finessectl/internal/finesse"
)

// Target is one Finesse server to check.
type Target struct {
	Name      string // as the user wrote it, for the report
	Host      string // host name or IP, without brackets
	HTTPSPort int
}

// ParseTarget accepts host, host:port, [v6]:port and https://host[:port].
// Errors quote the argument with any user info redacted: a password typed
// into a URL must not travel on into logs and monitoring databases.
func ParseTarget(arg string) (Target, error) {
	t := Target{Name: arg, HTTPSPort: finesse.HTTPSPort}
	s := redactUserInfo(arg)
	rest := arg
	if i := strings.Index(arg, "://"); i >= 0 {
		u, err := url.Parse(arg)
		if err != nil {
			return t, fmt.Errorf("server %q: not a valid URL", s)
		}
		if u.Scheme != "https" {
			return t, fmt.Errorf("server %q: scheme %q not supported: Finesse 12.5 and later serve the API over HTTPS only; write https://HOST:PORT or HOST:PORT", s, u.Scheme)
		}
		rest = u.Host
	}
	if strings.Contains(arg, "@") {
		return t, fmt.Errorf("server %q: credentials in the server argument are not used for SystemInfo and would end up in logs; remove them", s)
	}
	host, port, err := net.SplitHostPort(rest)
	switch {
	case err == nil:
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("server %q: the port is not a number from 1 to 65535", s)
		}
		t.Host, t.HTTPSPort = host, n
	case net.ParseIP(rest) != nil:
		t.Host = rest // an IPv6 address without brackets or port
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") && net.ParseIP(rest[1:len(rest)-1]) != nil:
		t.Host = rest[1 : len(rest)-1]
	case strings.Contains(rest, ":"):
		return t, fmt.Errorf("server %q: write HOST, HOST:PORT, [IPv6]:PORT or https://HOST:PORT", s)
	default:
		t.Host = rest
	}
	if net.ParseIP(t.Host) == nil && !validHostname(t.Host) {
		return t, fmt.Errorf("server %q: no valid host name or IP address", s)
	}
	return t, nil
}

// redactUserInfo replaces whatever stands before an '@' in a server
// argument, after any scheme, with "REDACTED".
func redactUserInfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	prefix := ""
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		prefix = s[:i+3]
	}
	return prefix + "REDACTED@" + s[at+1:]
}

// validHostname accepts the letters, digits, hyphens, dots and underscores of
// DNS names, so that a mistyped argument is a usage error (64) rather than a
// lookup failure reported as an unreachable server (10).
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		ok := r == '-' || r == '.' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// BaseURL is the HTTPS origin of the server's REST API.
func (t Target) BaseURL() *url.URL {
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(t.Host, strconv.Itoa(t.HTTPSPort))}
}
