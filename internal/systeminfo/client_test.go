package systeminfo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/probe"
)

var (
	caOnce sync.Once
	testCA *pki.CA
	caErr  error
)

// trustedCA is shared by the tests: making keys is the slow part.

// apiPath is where Finesse serves SystemInfo, stated here as Cisco documents it.
const apiPath = "/finesse/api/SystemInfo"

func trustedCA(t testing.TB) *pki.CA {
	t.Helper()
	caOnce.Do(func() { testCA, caErr = pki.NewCA("systeminfo test CA", 24*time.Hour) })
	if caErr != nil {
		t.Fatal(caErr)
	}
	return testCA
}

// startTLS serves h over TLS with a certificate from ca for names.
func startTLS(t testing.TB, ca *pki.CA, names []string, notAfter time.Time, http2 bool, h http.Handler) *httptest.Server {
	t.Helper()
	leaf, err := ca.Issue(names, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = http2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	// Failed handshakes are the point of some tests; keep them off stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// serve starts an HTTP/1.1 TLS server trusted by newClient.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	return startTLS(t, trustedCA(t), []string{"127.0.0.1"}, time.Time{}, false, h)
}

// newClient trusts roots only, as finessectl does with --ca-file.
func newClient(roots *x509.CertPool) *Client {
	return &Client{TLS: &tls.Config{RootCAs: roots}}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fetch also holds Fetch to its promise of a Response in every case.
func fetch(t testing.TB, c *Client, base string) (*Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Fetch(ctx, mustURL(t, base))
	if resp == nil {
		t.Fatalf("Fetch returned no Response (err %v)", err)
	}
	return resp, err
}

// respond answers with a status and a body.
func respond(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func respondFixture(t *testing.T, code int, name string) http.HandlerFunc {
	return respond(code, string(fixture(t, name)))
}

// hasControl reports whether s holds anything a terminal could act on.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u202e' {
			return true
		}
	}
	return false
}

func TestFetchOutcomes(t *testing.T) {
	type want struct {
		status string // Info.Status on success
		nis    *NotInServiceError
		nisMsg string   // exact NotInServiceError.Error()
		unus   []string // substrings of an ErrUnusable error
	}
	tests := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc
		want    want
	}{
		{"200 12.6 IN_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-12.6-schema.xml") },
			want{status: "IN_SERVICE"}},
		{"200 12.5 IN_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-12.5-schema.xml") },
			want{status: "IN_SERVICE"}},
		{"200 minimal IN_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-minimal.xml") },
			want{status: "IN_SERVICE"}},
		{"200 OUT_OF_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-out-of-service.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE", Reason: "CTI connection lost"},
				nisMsg: "status is OUT_OF_SERVICE (reason: CTI connection lost)"}},
		{"200 PARTIAL_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-partial-service.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 200, Status: "PARTIAL_SERVICE", Reason: "Notification Service unavailable"},
				nisMsg: "status is PARTIAL_SERVICE (reason: Notification Service unavailable)"}},
		{"200 lower-case root OUT_OF_SERVICE", func(t *testing.T) http.HandlerFunc {
			return respondFixture(t, 200, "sysinfo-pubsub-lowercase-root.xml")
		},
			want{nis: &NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE"}, nisMsg: "status is OUT_OF_SERVICE"}},
		{"200 lower-case status value", func(t *testing.T) http.HandlerFunc {
			return respond(200, "<SystemInfo><status>in_service</status></SystemInfo>")
		}, want{nis: &NotInServiceError{HTTPStatus: 200, Status: "in_service"}, nisMsg: "status is in_service"}},
		{"200 ISO-8859-1", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "sysinfo-latin1.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE", Reason: "Mise à jour du système"},
				nisMsg: "status is OUT_OF_SERVICE (reason: Mise à jour du système)"}},
		{"503 ApiErrors SERVER_OUT_OF_SERVICE", func(t *testing.T) http.HandlerFunc {
			return respondFixture(t, 503, "apierrors-503-server-out-of-service.xml")
		}, want{nis: &NotInServiceError{HTTPStatus: 503, Reason: "SERVER_OUT_OF_SERVICE"},
			nisMsg: "HTTP 503 Service Unavailable: SERVER_OUT_OF_SERVICE"}},
		{"503 ApiErrors other message", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 503, "apierrors-generic.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 503, Reason: "message"}, nisMsg: "HTTP 503 Service Unavailable: message"}},
		{"503 SystemInfo", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 503, "sysinfo-out-of-service.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 503, Status: "OUT_OF_SERVICE", Reason: "CTI connection lost"},
				nisMsg: "HTTP 503 Service Unavailable: status is OUT_OF_SERVICE (reason: CTI connection lost)"}},
		{"503 SystemInfo saying IN_SERVICE", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 503, "sysinfo-minimal.xml") },
			want{nis: &NotInServiceError{HTTPStatus: 503, Status: "IN_SERVICE"}, nisMsg: "HTTP 503 Service Unavailable: status is IN_SERVICE"}},
		{"503 HTML from a proxy", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 503, "garbage-html-error-page.html") },
			want{unus: []string{"HTTP 503 Service Unavailable, not a Finesse response", `an HTML page titled "502 Bad Gateway"`}}},
		{"503 empty", func(t *testing.T) http.HandlerFunc { return respond(503, "") },
			want{unus: []string{"HTTP 503 Service Unavailable, not a Finesse response (empty body)"}}},
		{"503 plain text", func(t *testing.T) http.HandlerFunc {
			return respond(503, "upstream connect error or disconnect/reset before headers")
		},
			want{unus: []string{"HTTP 503", `body starts "upstream connect error`}}},
		{"200 no status", func(t *testing.T) http.HandlerFunc {
			return respond(200, "<SystemInfo><xmppDomain>a.example.test</xmppDomain></SystemInfo>")
		}, want{unus: []string{"no <status>"}}},
		{"200 blank status", func(t *testing.T) http.HandlerFunc {
			return respond(200, "<SystemInfo><status> </status></SystemInfo>")
		},
			want{unus: []string{"no <status>"}}},
		{"200 HTML", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "garbage-html-error-page.html") },
			want{unus: []string{"HTTP 200 OK, but the body is an HTML page titled \"502 Bad Gateway\""}}},
		{"200 HTML without title", func(t *testing.T) http.HandlerFunc { return respond(200, "<html><body>Log in</body></html>") },
			want{unus: []string{`an HTML page: "<html><body>Log in`}}},
		{"200 JSON", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "garbage-json.json") },
			want{unus: []string{`the body is JSON, not XML: "{"status":"IN_SERVICE"`}}},
		{"200 empty", func(t *testing.T) http.HandlerFunc { return respond(200, "") },
			want{unus: []string{"HTTP 200 OK, but the body is empty"}}},
		{"200 truncated", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "garbage-truncated.xml") },
			want{unus: []string{"HTTP 200 OK, but truncated XML"}}},
		{"200 wrong root", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "garbage-wrong-root.xml") },
			want{unus: []string{"root element is <User>, not <SystemInfo>"}}},
		{"200 billion laughs", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "garbage-billion-laughs.xml") },
			want{unus: []string{"invalid character entity"}}},
		{"200 ApiErrors", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 200, "apierrors-generic.xml") },
			want{unus: []string{"HTTP 200 OK, but the body is ApiErrors: type: message (data: data)"}}},
		{"200 status twice", func(t *testing.T) http.HandlerFunc {
			return respond(200, "<SystemInfo><status>OUT_OF_SERVICE</status><statusReason>CTI connection lost</statusReason><status>IN_SERVICE</status></SystemInfo>")
		}, want{unus: []string{"HTTP 200 OK, but element <status> appears twice"}}},
		{"200 markup inside status", func(t *testing.T) http.HandlerFunc {
			return respond(200, "<SystemInfo><status>IN_<b>OUT_OF</b>SERVICE</status></SystemInfo>")
		}, want{unus: []string{"HTTP 200 OK, but markup inside <status>"}}},
		{"503 status twice", func(t *testing.T) http.HandlerFunc {
			return respond(503, "<SystemInfo><status>IN_SERVICE</status><Status>OUT_OF_SERVICE</Status></SystemInfo>")
		}, want{unus: []string{"HTTP 503 Service Unavailable, not a Finesse response"}}},
		{"200 unsupported encoding", func(t *testing.T) http.HandlerFunc {
			return respond(200, `<?xml version="1.0" encoding="Shift_JIS"?><SystemInfo><status>IN_SERVICE</status></SystemInfo>`)
		}, want{unus: []string{"encoding not supported"}}},
		{"401 ApiErrors", func(t *testing.T) http.HandlerFunc {
			return respond(401, "<ApiErrors><ApiError><ErrorType>Authorization Failure</ErrorType><ErrorMessage>UNAUTHORIZED</ErrorMessage></ApiError></ApiErrors>")
		}, want{unus: []string{"HTTP 401 Unauthorized: Authorization Failure: UNAUTHORIZED"}}},
		{"500 two ApiErrors", func(t *testing.T) http.HandlerFunc {
			return respond(500, "<ApiErrors><ApiError><ErrorType>Internal Server Error</ErrorType><ErrorMessage>NPE</ErrorMessage></ApiError><ApiError/></ApiErrors>")
		}, want{unus: []string{"HTTP 500 Internal Server Error: Internal Server Error: NPE (and 1 more)"}}},
		{"404 HTML", func(t *testing.T) http.HandlerFunc {
			return respond(404, "<!DOCTYPE html><html><head><title>Not Found</title></head><body>nope</body></html>")
		}, want{unus: []string{`HTTP 404 Not Found (an HTML page titled "Not Found")`}}},
		{"500 stack trace", func(t *testing.T) http.HandlerFunc {
			return respond(500, "java.lang.NullPointerException\n\tat com.cisco...")
		},
			want{unus: []string{`HTTP 500 Internal Server Error (body starts "java.lang.NullPointerException at com.cisco...")`}}},
		{"502 empty", func(t *testing.T) http.HandlerFunc { return respond(502, "") },
			want{unus: []string{"HTTP 502 Bad Gateway (empty body)"}}},
		{"204 no content", func(t *testing.T) http.HandlerFunc { return respond(204, "") },
			want{unus: []string{"HTTP 204 No Content"}}},
		{"200 SystemInfo to a 404", func(t *testing.T) http.HandlerFunc { return respondFixture(t, 404, "sysinfo-minimal.xml") },
			want{unus: []string{`HTTP 404 Not Found (body starts "<!-- The minimal sample`}}},
		{"unknown status code", func(t *testing.T) http.HandlerFunc { return respond(599, "") },
			want{unus: []string{"HTTP 599 (empty body)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.handler(t))
			resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
			info := resp.Info
			w := tt.want
			switch {
			case w.status != "":
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if info == nil || info.Status != w.status {
					t.Fatalf("info = %+v, want status %s", info, w.status)
				}
			case w.nis != nil:
				nis, ok := err.(*NotInServiceError) // returned unwrapped, as documented
				if !ok {
					t.Fatalf("err = %T %v, want *NotInServiceError", err, err)
				}
				if nis.HTTPStatus != w.nis.HTTPStatus || nis.Status != w.nis.Status || nis.Reason != w.nis.Reason {
					t.Errorf("got %+v, want %+v", nis, w.nis)
				}
				if got := nis.Error(); got != w.nisMsg {
					t.Errorf("Error() = %q, want %q", got, w.nisMsg)
				}
				if errors.Is(err, ErrUnusable) {
					t.Error("a NotInServiceError must not be ErrUnusable")
				}
				// The Info comes back when the body was a SystemInfo.
				if (nis.Status != "") != (nis.Info != nil) || info != nis.Info {
					t.Errorf("info = %+v, nis.Info = %+v", info, nis.Info)
				}
			default:
				if !errors.Is(err, ErrUnusable) {
					t.Fatalf("err = %v, want ErrUnusable", err)
				}
				if info != nil {
					t.Errorf("info = %+v with ErrUnusable", info)
				}
				prefix := "GET " + srv.URL + apiPath + ": "
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error %q does not start with %q", err, prefix)
				}
				for _, s := range w.unus {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			}
		})
	}
}

// Hostile servers: nothing they send may reach the terminal raw.
func TestFetchSanitizesServerText(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, err error)
	}{
		{"C1 CSI in statusReason", respond(200, "<SystemInfo><status>OUT_OF_SERVICE</status><statusReason>\u009b2J\u009b31mall good\r\nOK</statusReason></SystemInfo>"),
			func(t *testing.T, err error) {
				var nis *NotInServiceError
				if !errors.As(err, &nis) {
					t.Fatalf("err = %v", err)
				}
				// Verbatim apart from XML's own CRLF normalisation.
				if nis.Reason != "\u009b2J\u009b31mall good\nOK" {
					t.Errorf("Reason = %q, want the server's text verbatim", nis.Reason)
				}
				want := `status is OUT_OF_SERVICE (reason: \u009b2J\u009b31mall good OK)`
				if err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			}},
		{"ESC in statusReason", respond(200, "<SystemInfo><status>OUT_OF_SERVICE</status><statusReason>\x1b[2J\x1b]0;owned\x07</statusReason></SystemInfo>"),
			func(t *testing.T, err error) {
				// A raw ESC is not allowed in XML, so the document is unusable.
				if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "illegal character code U+001B") {
					t.Errorf("err = %v", err)
				}
			}},
		{"escape codes in an error page", respond(500, "\x1b]0;owned\x07\x1b[31mFATAL\x1b[0m\nOK: all good\u202e"),
			func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), `(body starts "FATAL OK: all good\u202e")`) {
					t.Errorf("err = %q", err)
				}
			}},
		{"escape codes in an HTML title", respond(503, "<html><title>\x1b[5mDOWN\x1b[0m\n</title></html>"),
			func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), `titled "DOWN"`) {
					t.Errorf("err = %q", err)
				}
			}},
		{"escape codes in ApiErrors", respond(404, "<ApiErrors><ApiError><ErrorType>\u009b31mT</ErrorType><ErrorMessage>"+strings.Repeat("M", 5000)+"</ErrorMessage></ApiError></ApiErrors>"),
			func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), `HTTP 404 Not Found: \u009b31mT: MMMM`) {
					t.Errorf("err = %q", err)
				}
			}},
		{"long element name", respond(200, "<"+strings.Repeat("A", 100000)+"/>"),
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrUnusable) {
					t.Errorf("err = %v", err)
				}
			}},
		{"reason phrase", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 500 \x1b[32mOK\x1b[0m all fine\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			buf.Flush()
		}, func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "HTTP 500 Internal Server Error (empty body)") {
				t.Errorf("err = %q", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.handler)
			_, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if msg := err.Error(); hasControl(msg) || len(msg) > 1500 {
				t.Errorf("unsafe error text (%d bytes): %q", len(msg), msg)
			}
			tt.check(t, err)
		})
	}
}

// The lockout hazard: five bad passwords lock a serviceability account, so
// nothing resembling a credential may leave the checker.
func TestFetchSendsNoCredentials(t *testing.T) {
	type seen struct {
		auth, cookie, accept, agent, path, query string
	}
	var mu sync.Mutex
	var got []seen
	var srv *httptest.Server
	srv = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("Accept"),
			r.Header.Get("User-Agent"), r.URL.Path, r.URL.RawQuery})
		mu.Unlock()
		if r.URL.Path == apiPath {
			// A Location with user info makes net/http send Basic credentials.
			u := strings.Replace(srv.URL, "https://", "https://evil:guess@", 1)
			http.Redirect(w, r, u+"/next", http.StatusFound)
			return
		}
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))

	resp, err := fetch(t, newClient(trustedCA(t).Pool()), strings.Replace(srv.URL, "https://", "https://admin:secret@", 1)+"/some/path?x=1#frag")
	if err != nil || !resp.Info.InService() {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
	if resp.URL != srv.URL+apiPath || resp.FinalURL != srv.URL+"/next" {
		t.Errorf("URL %q, FinalURL %q: want them without user info", resp.URL, resp.FinalURL)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, s := range got {
		if s.auth != "" || s.cookie != "" {
			t.Errorf("request %d sent Authorization %q, Cookie %q", i, s.auth, s.cookie)
		}
		if s.accept != "application/xml" || s.agent != "finessectl" {
			t.Errorf("request %d: Accept %q, User-Agent %q", i, s.accept, s.agent)
		}
	}
	if got[0].path != apiPath || got[0].query != "" {
		t.Errorf("first request to %s?%s, want %s", got[0].path, got[0].query, apiPath)
	}
}

func TestFetchErrorHidesUserInfo(t *testing.T) {
	srv := serve(t, respond(404, ""))
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), strings.Replace(srv.URL, "https://", "https://admin:secret@", 1))
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "admin") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(resp.URL, "secret") {
		t.Errorf("Response.URL = %q", resp.URL)
	}
}

// redirector sends /finesse/api/SystemInfo through n redirects, each to
// /hop/<remaining>, before serving SystemInfo. hits counts requests.
func redirector(n int, hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		left := n
		if r.URL.Path != apiPath {
			left, _ = strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		}
		if left > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", left-1), http.StatusMovedPermanently)
			return
		}
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}
}

func TestFetchRedirects(t *testing.T) {
	for n := 0; n <= 5; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, redirector(n, &hits))
			resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
			if n <= 3 {
				if err != nil || !resp.Info.InService() || resp.HTTPStatus != 200 {
					t.Fatalf("%d redirects: %+v, %v", n, resp, err)
				}
				if n > 0 && resp.FinalURL != srv.URL+"/hop/0" {
					t.Errorf("FinalURL = %q", resp.FinalURL)
				}
				if int(hits.Load()) != n+1 {
					t.Errorf("%d requests, want %d", hits.Load(), n+1)
				}
				return
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "too many redirects") ||
				strings.Count(err.Error(), ErrUnusable.Error()) != 1 || strings.Contains(err.Error(), "malformed") {
				t.Fatalf("%d redirects: err = %v, want ErrUnusable (too many redirects)", n, err)
			}
			if hits.Load() != 4 {
				t.Errorf("%d requests, want 4", hits.Load())
			}
			if resp.HTTPStatus != http.StatusMovedPermanently || resp.Info != nil {
				t.Errorf("Response = %+v, want the last redirect's status", resp)
			}
			if !strings.Contains(err.Error(), "(redirected to "+srv.URL+"/hop/") {
				t.Errorf("error does not say where it was redirected: %v", err)
			}
		})
	}
}

// Finesse redirects to 8445 on the same host; another port is the same node.
func TestFetchFollowsRedirectToAnotherPort(t *testing.T) {
	target := serve(t, respondFixture(t, 200, "sysinfo-12.6-schema.xml"))
	front := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), front.URL)
	if err != nil || resp.Info.SecondaryNode == nil || resp.Info.SecondaryNode.XMPPSecurePort != "5223" {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
	if resp.URL != front.URL+apiPath || resp.FinalURL != target.URL+apiPath {
		t.Errorf("URL %q, FinalURL %q", resp.URL, resp.FinalURL)
	}
}

// An http base is refused before anything is sent: Finesse's plain ports
// only redirect, and a check must not depend on an unencrypted hop.
func TestFetchRefusesHTTPBase(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer plain.Close()
	resp, err := fetch(t, &Client{}, plain.URL)
	if err == nil || errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), `unsupported URL scheme "http"`) {
		t.Fatalf("err = %v, want an argument error", err)
	}
	if resp.URL != plain.URL+apiPath || resp.HTTPStatus != 0 || resp.Timings != nil {
		t.Errorf("Response = %+v", resp)
	}
	if hits.Load() != 0 {
		t.Error("the plain HTTP server was contacted")
	}
}

func TestFetchRefusesHTTPSDowngrade(t *testing.T) {
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))
	defer plain.Close()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+apiPath, http.StatusFound)
	}))
	_, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), `refusing redirect from https to "http"`) {
		t.Fatalf("err = %v", err)
	}
	if plainHits.Load() != 0 {
		t.Error("the plain HTTP server was contacted")
	}
}

func TestFetchBodyLimit(t *testing.T) {
	valid := "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"
	// padded is a valid SystemInfo of exactly n bytes.
	padded := func(n int) string { return valid + strings.Repeat(" ", n-len(valid)) }
	huge := func(declareLength bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			const total = 5 << 20
			if declareLength {
				w.Header().Set("Content-Length", strconv.Itoa(total))
			}
			chunk := []byte(strings.Repeat("<a>lol</a>", 6554)) // 64 KiB
			io.WriteString(w, "<SystemInfo>")
			for sent := 0; sent < total-len(chunk); sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up, as it should
				}
			}
		}
	}
	tests := []struct {
		name    string
		max     int64
		handler http.HandlerFunc
		wantErr string // "" means success
	}{
		{"5 MiB streamed", 0, huge(false), "response exceeds 1 MiB"},
		{"5 MiB with Content-Length", 0, huge(true), "response exceeds 1 MiB (Content-Length 5242880)"},
		{"exactly the default limit", 0, respond(200, padded(DefaultMaxBodyBytes)), ""},
		{"one byte over the default limit", 0, respond(200, padded(DefaultMaxBodyBytes+1)), "response exceeds 1 MiB"},
		{"custom limit", 100, respond(200, padded(101)), "response exceeds 100 bytes"},
		{"custom limit met", 100, respond(200, padded(100)), ""},
		{"custom limit in KiB", 2048, respond(200, padded(2049)), "response exceeds 2 KiB"},
		{"gzip bomb: 64 KiB that inflate to 64 MiB", 0, gzipBomb(t, 64<<20), "response exceeds 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.handler)
			c := newClient(trustedCA(t).Pool())
			c.MaxBodyBytes = tt.max
			resp, err := fetch(t, c, srv.URL)
			if tt.wantErr == "" {
				if err != nil || !resp.Info.InService() {
					t.Fatalf("Fetch = %+v, %v", resp, err)
				}
				return
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrUnusable containing %q", err, tt.wantErr)
			}
			if resp.HTTPStatus != 200 || resp.Info != nil {
				t.Errorf("Response = %+v", resp)
			}
		})
	}
}

// gzipBomb serves a gzip-encoded SystemInfo that inflates to size bytes.
// net/http inflates it transparently, so the body cap must apply to what
// it inflates to, not to what crossed the wire.
func gzipBomb(t *testing.T, size int) http.HandlerFunc {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = io.WriteString(zw, "<SystemInfo><status>IN_SERVICE</status>")
	_, _ = zw.Write(make([]byte, size))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(z.Bytes())
	}
}

// endless is a body that never ends and counts what was read of it.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.read += int64(len(p))
	return len(p), nil
}

// The cap bounds what is read, not only what is kept: a server streaming
// without end costs the checker at most the limit.
func TestReadBodyStopsAtLimit(t *testing.T) {
	for _, limit := range []int64{100, DefaultMaxBodyBytes} {
		body := &endless{}
		resp := &http.Response{ContentLength: -1, Body: io.NopCloser(body)}
		_, err := readBody(context.Background(), resp, limit)
		if !errors.Is(err, ErrUnusable) {
			t.Fatalf("limit %d: err = %v", limit, err)
		}
		if body.read > limit+1 {
			t.Errorf("limit %d: read %d bytes", limit, body.read)
		}
	}
}

// drip sends the start of a SystemInfo, then a byte every 20 ms for as long as
// the client listens.
func drip(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(200)
	io.WriteString(w, "<SystemInfo><status>IN_SERVICE</status>")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := io.WriteString(w, " "); err != nil {
			return
		}
		rc.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func TestFetchHonoursContext(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	for _, tt := range []struct {
		name    string
		http2   bool
		handler http.HandlerFunc
	}{
		{"slow drip body HTTP/1.1", false, drip},
		{"slow drip body HTTP/2", true, drip},
		{"no headers HTTP/1.1", false, stall},
		{"no headers HTTP/2", true, stall},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ca := trustedCA(t)
			srv := startTLS(t, ca, []string{"127.0.0.1"}, time.Time{}, tt.http2, tt.handler)
			c := newClient(ca.Pool())
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := c.Fetch(ctx, mustURL(t, srv.URL))
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Fetch ignored its context")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if errors.Is(err, ErrUnusable) {
				t.Errorf("a deadline is not ErrUnusable: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "GET "+srv.URL+apiPath+": ") {
				t.Errorf("err = %q", err)
			}
		})
	}
}

func TestFetchTLSFailures(t *testing.T) {
	ca := trustedCA(t)
	other, err := pki.NewCA("some other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ca    *pki.CA
		names []string
		after time.Time
		host  string // a DNS name for 127.0.0.1; "" means the server's own URL
		check func(t *testing.T, err error)
	}{
		{"untrusted CA", other, []string{"127.0.0.1"}, time.Time{}, "", func(t *testing.T, err error) {
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) {
				t.Errorf("err = %v, want x509.UnknownAuthorityError", err)
			}
		}},
		{"wrong host name", ca, []string{"finesse-b.example.test"}, time.Time{}, "", func(t *testing.T, err error) {
			var he x509.HostnameError
			if !errors.As(err, &he) || he.Host != "127.0.0.1" {
				t.Errorf("err = %v, want x509.HostnameError for 127.0.0.1", err)
			}
		}},
		{"expired", ca, []string{"127.0.0.1"}, time.Now().Add(-time.Hour), "", func(t *testing.T, err error) {
			var ce x509.CertificateInvalidError
			if !errors.As(err, &ce) || ce.Reason != x509.Expired {
				t.Errorf("err = %v, want x509.CertificateInvalidError (Expired)", err)
			}
		}},
		// x509.HostnameError quotes the certificate's DNS names, so a hostile
		// certificate is a way to put escape codes into an error.
		{"escape codes in the certificate's names", ca, []string{"a\x1b[31m.example.test", "b\x1b]0;owned\x07.example.test"}, time.Time{}, "finesse-a.example.test",
			func(t *testing.T, err error) {
				var he x509.HostnameError
				if !errors.As(err, &he) {
					t.Errorf("err = %v, want x509.HostnameError", err)
				}
				if !strings.Contains(err.Error(), "valid for a.example.test, b.example.test, not finesse-a.example.test") {
					t.Errorf("err = %q", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := startTLS(t, tt.ca, tt.names, tt.after, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
			}))
			c := newClient(ca.Pool())
			base := srv.URL
			if tt.host != "" {
				// x509 quotes DNS names only when the host is one.
				c.Resolver = nettest.DNS(t, map[string]net.IP{tt.host: net.IPv4(127, 0, 0, 1)})
				base = "https://" + tt.host + ":" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]
			}
			resp, err := fetch(t, c, base)
			if resp.Info != nil || err == nil {
				t.Fatalf("Fetch = %+v, %v", resp, err)
			}
			var cve *tls.CertificateVerificationError
			if !errors.As(err, &cve) {
				t.Errorf("err = %v, want *tls.CertificateVerificationError", err)
			}
			var te *probe.TLSError
			if !errors.As(err, &te) {
				t.Errorf("err = %v, want *probe.TLSError", err)
			}
			if errors.Is(err, ErrUnusable) {
				t.Error("a TLS failure is not ErrUnusable")
			}
			if !strings.HasPrefix(err.Error(), "GET "+base+apiPath+": ") || hasControl(err.Error()) {
				t.Errorf("err = %q", err)
			}
			if hits.Load() != 0 {
				t.Error("a request reached the untrusted server")
			}
			// The certificate that failed is still described, verbatim.
			leaf := srv.TLS.Certificates[0].Leaf
			if resp.Certificate == nil || resp.Certificate.Subject != leaf.Subject.String() ||
				!resp.Certificate.NotAfter.Equal(leaf.NotAfter) || resp.HTTPStatus != 0 {
				t.Errorf("Response = %+v, want the server's certificate and no status", resp)
			}
			if !hasPhases(resp.Timings, "connect", "tls") || hasPhase(resp.Timings, "request") {
				t.Errorf("Timings = %v", resp.Timings)
			}
			tt.check(t, err)
		})
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	addr := nettest.Refused(t)
	resp, err := fetch(t, &Client{}, "https://"+addr)
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want *net.OpError (connection refused)", err)
	}
	// One prefix, not url.Error's `Get "url":` as well.
	if !strings.HasPrefix(err.Error(), "GET https://"+addr+apiPath+": ") || strings.Count(err.Error(), apiPath) != 1 {
		t.Errorf("err = %q", err)
	}
	if resp.Certificate != nil || resp.HTTPStatus != 0 || !hasPhases(resp.Timings, "connect") || hasPhase(resp.Timings, "tls") {
		t.Errorf("Response = %+v", resp)
	}
}

func TestFetchTransportFailures(t *testing.T) {
	t.Run("no common protocol version", func(t *testing.T) {
		// The server wants TLS 1.3, the client offers at most 1.2.
		srv := httptest.NewUnstartedServer(respond(200, ""))
		leaf, err := trustedCA(t).Issue([]string{"127.0.0.1"}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MinVersion: tls.VersionTLS13}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		defer srv.Close()
		c := newClient(trustedCA(t).Pool())
		c.TLS.MaxVersion = tls.VersionTLS12
		_, err = fetch(t, c, srv.URL)
		// crypto/tls reports the server's alert as a *net.OpError.
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "remote error" || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want *net.OpError for the TLS alert", err)
		}
		var te *probe.TLSError
		if !errors.As(err, &te) {
			t.Errorf("err = %v, want *probe.TLSError", err)
		}
	})
	t.Run("connection closed without a response", func(t *testing.T) {
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
		if err == nil || resp.Info != nil || errors.Is(err, ErrUnusable) {
			t.Fatalf("Fetch = %+v, %v; want a transport error", resp, err)
		}
		var nis *NotInServiceError
		var te *probe.TLSError
		if errors.As(err, &nis) || errors.As(err, &te) {
			t.Errorf("err = %v", err)
		}
		if resp.Certificate == nil || resp.HTTPStatus != 0 {
			t.Errorf("Response = %+v", resp)
		}
	})
	t.Run("body cut short", func(t *testing.T) {
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")
		}))
		resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
		if resp.HTTPStatus != 200 || !hasPhases(resp.Timings, "request", "body") {
			t.Errorf("Response = %+v", resp)
		}
	})
}

func TestFetchDefaults(t *testing.T) {
	var agent atomic.Value
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.Header.Get("User-Agent"))
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	if err != nil || !resp.Info.InService() {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
	if agent.Load() != "finessectl" {
		t.Errorf("User-Agent %q", agent.Load())
	}
	c := newClient(trustedCA(t).Pool())
	c.UserAgent = "probe/1"
	_, err = fetch(t, c, srv.URL)
	if err != nil || agent.Load() != "probe/1" {
		t.Errorf("User-Agent %q, err %v", agent.Load(), err)
	}

	// The zero Client verifies certificates against the system roots.
	_, err = fetch(t, &Client{}, srv.URL)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("zero Client: err = %v, want a certificate verification error", err)
	}
}

func TestFetchHTTP2(t *testing.T) {
	ca := trustedCA(t)
	var proto atomic.Int32
	srv := startTLS(t, ca, []string{"127.0.0.1"}, time.Time{}, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		respondFixture(t, 200, "sysinfo-12.6-schema.xml")(w, r)
	}))
	resp, err := fetch(t, newClient(ca.Pool()), srv.URL)
	if err != nil || len(resp.Info.CTIServers) != 2 {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
	if proto.Load() != 2 || resp.Proto != "HTTP/2.0" {
		t.Errorf("server saw HTTP/%d, Response.Proto %q; want HTTP/2", proto.Load(), resp.Proto)
	}
	if !hasPhases(resp.Timings, "connect", "tls", "request", "body") {
		t.Errorf("Timings = %v", resp.Timings)
	}
}

func TestFetchBadArguments(t *testing.T) {
	c := &Client{}
	var noContext context.Context
	if resp, err := c.Fetch(noContext, mustURL(t, "https://127.0.0.1:1")); resp == nil || err == nil {
		t.Errorf("nil context: %+v, %v", resp, err)
	}
	if resp, err := c.Fetch(context.Background(), nil); resp == nil || err == nil {
		t.Errorf("nil URL: %+v, %v", resp, err)
	}
	for _, base := range []string{"ftp://127.0.0.1", "http://127.0.0.1:1", "finesse-a.example.test:8445", "https://", "https:///x"} {
		resp, err := c.Fetch(context.Background(), mustURL(t, base))
		if resp == nil || err == nil || errors.Is(err, ErrUnusable) {
			t.Errorf("%s: err = %v, want an argument error", base, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := c.Fetch(ctx, mustURL(t, "https://127.0.0.1:1"))
	if resp == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}
