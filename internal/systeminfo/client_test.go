package systeminfo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/pki"
)

var (
	caOnce sync.Once
	testCA *pki.CA
	caErr  error
)

// trustedCA is shared by the tests: making keys is the slow part.
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
func newClient(t testing.TB, roots *x509.CertPool) *Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{HTTP: &http.Client{Transport: tr}}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func fetch(t testing.TB, c *Client, base string) (*Info, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Fetch(ctx, mustURL(t, base))
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
			info, err := fetch(t, newClient(t, trustedCA(t).Pool()), srv.URL)
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
				prefix := "GET " + srv.URL + Path + ": "
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
			_, err := fetch(t, newClient(t, trustedCA(t).Pool()), srv.URL)
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
		if r.URL.Path == Path {
			// A Location with user info makes net/http send Basic credentials.
			u := strings.Replace(srv.URL, "https://", "https://evil:guess@", 1)
			http.Redirect(w, r, u+"/next", http.StatusFound)
			return
		}
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))

	c := newClient(t, trustedCA(t).Pool())
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(mustURL(t, srv.URL), []*http.Cookie{{Name: "JSESSIONID", Value: "abc"}})
	c.HTTP.Jar = jar

	info, err := fetch(t, c, strings.Replace(srv.URL, "https://", "https://admin:secret@", 1)+"/some/path?x=1#frag")
	if err != nil || !info.InService() {
		t.Fatalf("Fetch = %+v, %v", info, err)
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
	if got[0].path != Path || got[0].query != "" {
		t.Errorf("first request to %s?%s, want %s", got[0].path, got[0].query, Path)
	}
	if c.HTTP.Jar != jar || c.HTTP.CheckRedirect != nil {
		t.Error("Fetch modified the caller's http.Client")
	}
}

func TestFetchErrorHidesUserInfo(t *testing.T) {
	srv := serve(t, respond(404, ""))
	_, err := fetch(t, newClient(t, trustedCA(t).Pool()), strings.Replace(srv.URL, "https://", "https://admin:secret@", 1))
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "admin") {
		t.Errorf("err = %v", err)
	}
}

// redirector sends /finesse/api/SystemInfo through n redirects, each to
// /hop/<remaining>, before serving SystemInfo. hits counts requests.
func redirector(n int, hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		left := n
		if r.URL.Path != Path {
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
			c := newClient(t, trustedCA(t).Pool())
			// The caller's policy must not widen the limit.
			c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
			info, err := fetch(t, c, srv.URL)
			if n <= 3 {
				if err != nil || !info.InService() {
					t.Fatalf("%d redirects: %+v, %v", n, info, err)
				}
				if int(hits.Load()) != n+1 {
					t.Errorf("%d requests, want %d", hits.Load(), n+1)
				}
				return
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "too many redirects") {
				t.Fatalf("%d redirects: err = %v, want ErrUnusable (too many redirects)", n, err)
			}
			if hits.Load() != 4 {
				t.Errorf("%d requests, want 4", hits.Load())
			}
			if !strings.Contains(err.Error(), "(redirected to "+srv.URL+"/hop/") {
				t.Errorf("error does not say where it was redirected: %v", err)
			}
		})
	}
}

// Finesse's HTTP ports 80 and 8082 redirect to 8445.
func TestFetchFollowsHTTPToHTTPS(t *testing.T) {
	tlsSrv := serve(t, respondFixture(t, 200, "sysinfo-12.6-schema.xml"))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsSrv.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer plain.Close()
	info, err := fetch(t, newClient(t, trustedCA(t).Pool()), plain.URL)
	if err != nil || info.SecondaryNode == nil || info.SecondaryNode.XMPPSecurePort != "5223" {
		t.Fatalf("Fetch = %+v, %v", info, err)
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
		http.Redirect(w, r, plain.URL+Path, http.StatusFound)
	}))
	_, err := fetch(t, newClient(t, trustedCA(t).Pool()), srv.URL)
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), `refusing redirect from https to "http"`) {
		t.Fatalf("err = %v", err)
	}
	if plainHits.Load() != 0 {
		t.Error("the plain HTTP server was contacted")
	}
}

// countingTransport counts the response body bytes the client actually
// reads, which bounds what it can have buffered.
type countingTransport struct {
	http.RoundTripper
	read atomic.Int64
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := ct.RoundTripper.RoundTrip(r)
	if resp != nil {
		resp.Body = countingBody{resp.Body, &ct.read}
	}
	return resp, err
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.handler)
			c := newClient(t, trustedCA(t).Pool())
			ct := &countingTransport{RoundTripper: c.HTTP.Transport}
			c.HTTP.Transport = ct
			c.MaxBodyBytes = tt.max
			info, err := fetch(t, c, srv.URL)
			if tt.wantErr == "" {
				if err != nil || !info.InService() {
					t.Fatalf("Fetch = %+v, %v", info, err)
				}
				return
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrUnusable containing %q", err, tt.wantErr)
			}
			limit := tt.max
			if limit == 0 {
				limit = DefaultMaxBodyBytes
			}
			if n := ct.read.Load(); n > limit+1 {
				t.Errorf("read %d body bytes, limit is %d", n, limit)
			}
		})
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
			c := newClient(t, ca.Pool())
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
			if !strings.HasPrefix(err.Error(), "GET "+srv.URL+Path+": ") {
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
		host  string // dialled as 127.0.0.1; "" means the server's own URL
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
			c := newClient(t, ca.Pool())
			// Dial the server under a DNS name, since x509 quotes DNS names
			// only when the host is one.
			addr := srv.Listener.Addr().String()
			c.HTTP.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			base := srv.URL
			if tt.host != "" {
				_, port, _ := net.SplitHostPort(addr)
				base = "https://" + tt.host + ":" + port
			}
			info, err := fetch(t, c, base)
			if info != nil || err == nil {
				t.Fatalf("Fetch = %+v, %v", info, err)
			}
			var cve *tls.CertificateVerificationError
			if !errors.As(err, &cve) {
				t.Errorf("err = %v, want *tls.CertificateVerificationError", err)
			}
			if errors.Is(err, ErrUnusable) {
				t.Error("a TLS failure is not ErrUnusable")
			}
			if !strings.HasPrefix(err.Error(), "GET "+base+Path+": ") || hasControl(err.Error()) {
				t.Errorf("err = %q", err)
			}
			if hits.Load() != 0 {
				t.Error("a request reached the untrusted server")
			}
			tt.check(t, err)
		})
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = fetch(t, &Client{}, "https://"+addr)
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want *net.OpError (connection refused)", err)
	}
	// One prefix, not url.Error's `Get "url":` as well.
	if !strings.HasPrefix(err.Error(), "GET https://"+addr+Path+": ") || strings.Count(err.Error(), Path) != 1 {
		t.Errorf("err = %q", err)
	}
}

func TestFetchTransportFailures(t *testing.T) {
	t.Run("name does not resolve", func(t *testing.T) {
		// .invalid never resolves (RFC 6761); without a resolver the
		// lookup still fails with a *net.DNSError.
		// A client without a proxy, whatever the environment says.
		_, err := fetch(t, newClient(t, nil), "https://finesse.invalid:8445")
		var dns *net.DNSError
		if !errors.As(err, &dns) || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want *net.DNSError", err)
		}
	})
	t.Run("handshake failure", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(respond(200, ""))
		leaf, err := trustedCA(t).Issue([]string{"127.0.0.1"}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MinVersion: tls.VersionTLS13}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		defer srv.Close()
		c := newClient(t, trustedCA(t).Pool())
		c.HTTP.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
		_, err = fetch(t, c, srv.URL)
		// crypto/tls reports the server's alert as a *net.OpError.
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "remote error" || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want *net.OpError for the TLS alert", err)
		}
	})
	t.Run("plain HTTP server on an https URL", func(t *testing.T) {
		plain := httptest.NewServer(respond(200, ""))
		defer plain.Close()
		_, err := fetch(t, newClient(t, trustedCA(t).Pool()), strings.Replace(plain.URL, "http://", "https://", 1))
		if err == nil || errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			t.Fatalf("err = %v, want a transport error", err)
		}
	})
	t.Run("connection closed without a response", func(t *testing.T) {
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		info, err := fetch(t, newClient(t, trustedCA(t).Pool()), srv.URL)
		if err == nil || info != nil || errors.Is(err, ErrUnusable) {
			t.Fatalf("Fetch = %+v, %v; want a transport error", info, err)
		}
		var nis *NotInServiceError
		if errors.As(err, &nis) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("body cut short", func(t *testing.T) {
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")
		}))
		_, err := fetch(t, newClient(t, trustedCA(t).Pool()), srv.URL)
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestFetchDefaults(t *testing.T) {
	var agent atomic.Value
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.Header.Get("User-Agent"))
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))
	defer plain.Close()
	info, err := fetch(t, &Client{}, plain.URL)
	if err != nil || !info.InService() {
		t.Fatalf("Fetch = %+v, %v", info, err)
	}
	if agent.Load() != "finessectl" {
		t.Errorf("User-Agent %q", agent.Load())
	}
	_, err = fetch(t, &Client{UserAgent: "probe/1"}, plain.URL)
	if err != nil || agent.Load() != "probe/1" {
		t.Errorf("User-Agent %q, err %v", agent.Load(), err)
	}

	// The default client verifies certificates against the system roots.
	srv := serve(t, respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"))
	_, err = fetch(t, &Client{}, srv.URL)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("default client: err = %v, want a certificate verification error", err)
	}
}

func TestFetchHTTP2(t *testing.T) {
	ca := trustedCA(t)
	var proto atomic.Int32
	srv := startTLS(t, ca, []string{"127.0.0.1"}, time.Time{}, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		respondFixture(t, 200, "sysinfo-12.6-schema.xml")(w, r)
	}))
	info, err := fetch(t, newClient(t, ca.Pool()), srv.URL)
	if err != nil || len(info.CTIServers) != 2 {
		t.Fatalf("Fetch = %+v, %v", info, err)
	}
	if proto.Load() != 2 {
		t.Errorf("HTTP/%d, want HTTP/2", proto.Load())
	}
}

func TestFetchBadArguments(t *testing.T) {
	c := &Client{}
	if _, err := c.Fetch(context.Background(), nil); err == nil {
		t.Error("nil URL accepted")
	}
	for _, base := range []string{"ftp://127.0.0.1", "finesse-a.example.test:8445", "https://", "https:///x"} {
		_, err := c.Fetch(context.Background(), mustURL(t, base))
		if err == nil || errors.Is(err, ErrUnusable) {
			t.Errorf("%s: err = %v, want an argument error", base, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Fetch(ctx, mustURL(t, "https://127.0.0.1:1"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}
