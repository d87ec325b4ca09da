package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/pki"
)

// hostileXMPP answers the stream header with an element whose namespace is
// filler bytes long and then holds bidi and C1 control characters.
func hostileXMPP(filler int) func(*tls.Conn) {
	return func(c *tls.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "+
			"from='finesse.test' id='x' version='1.0'><evil xmlns='urn:"+strings.Repeat("a", filler)+"\u202e\u009b2J\u009d0;owned\u0085'/>")
		_, _ = io.Copy(io.Discard, c)
	}
}

// hostileLab is a CA in a file, a server certificate for 127.0.0.1 from it,
// and a SystemInfo server that answers IN_SERVICE with it, for tests whose
// hostile peer is the Notification Service.
func hostileLab(t *testing.T) (caFile string, serverTLS *tls.Config, siAddr string) {
	t.Helper()
	ca, err := pki.NewCA("hostile test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	serverTLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	si := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<SystemInfo><status>IN_SERVICE</status><xmppDomain>finesse.test</xmppDomain></SystemInfo>")
	}))
	si.TLS = serverTLS
	si.StartTLS()
	t.Cleanup(si.Close)
	return caFile, serverTLS, si.Listener.Addr().String()
}

// Text from a hostile Notification Service is capped and made printable in
// every output format: no 3-million-character line, and no raw bidi, C0 or
// C1 character in the text report or in decoded JSON strings.
func TestHostileXMPPTextIsCappedAndSafe(t *testing.T) {
	caFile, serverTLS, siAddr := hostileLab(t)

	env := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw"}
	for _, tc := range []struct {
		name, format string
		filler       int
		shows        []string
	}{
		{"3 MiB namespace/text", "text", 3 << 20, []string{"unknown namespace urn:aaaa", "aaa…"}},
		{"3 MiB namespace/json", "json", 3 << 20, []string{"unknown namespace urn:aaaa", "aaa…"}},
		{"bidi and C1/text", "text", 0, []string{`urn:\u202e\u009b2J\u009d0;owned`}},
		{"bidi and C1/json", "json", 0, []string{`urn:\\u202e\\u009b2J\\u009d0;owned`}},
	} {
		format := tc.format
		t.Run(tc.name, func(t *testing.T) {
			_, xmppPort, _ := net.SplitHostPort(nettest.TLS(t, serverTLS, hostileXMPP(tc.filler)))
			tio := newTestIO(env, "")
			code := Main(context.Background(), []string{"check", "-o", format, "-t", "5s", "--ca-file", caFile,
				"--xmpp-port", xmppPort, siAddr}, tio.ios, "")
			if code != 20 {
				t.Fatalf("exit %d, want 20\n%.2000s", code, tio.out)
			}
			out := tio.out.String()
			for _, line := range strings.Split(out, "\n") {
				if n := len([]rune(line)); n > 2000 {
					t.Fatalf("a %d-character line reached the report", n)
				}
			}
			strs := []string{out}
			if format == "json" {
				var doc any
				if err := json.Unmarshal(tio.out.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				strs = nil
				walkJSONStrings(doc, func(s string) { strs = append(strs, s) })
			}
			for _, s := range strs {
				for _, r := range s {
					if (unicode.IsControl(r) && r != '\n') || unicode.Is(unicode.Cf, r) {
						t.Fatalf("raw %U in the %s report: %q", r, format, s)
					}
				}
			}
			for _, want := range tc.shows {
				if !strings.Contains(out, want) {
					t.Fatalf("the report lacks %q:\n%.3000s", want, out)
				}
			}
			// The server's text, all of it 'a' but its first characters, is
			// capped at 1,000 characters wherever it appears.
			for _, s := range strs {
				for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r != 'a' }) {
					if len(run) > 1000 {
						t.Fatalf("%d characters of the server's text in one string of the %s report, want at most 1,000", len(run), format)
					}
				}
			}
		})
	}
}

func walkJSONStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkJSONStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkJSONStrings(e, fn)
		}
	}
}

// A Notification Service that only opens elements is refused at the depth
// limit, not after decoding 4 MiB into a stack of open elements (190 MB of
// memory per server before the limit, measured by hostile-server testing).
func TestDeeplyNestedXMPPIsRefused(t *testing.T) {
	caFile, serverTLS, siAddr := hostileLab(t)
	deep := func(c *tls.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "+
			"from='finesse.test' id='x' version='1.0'><stream:features>"+strings.Repeat("<a>", 1<<20))
		_, _ = io.Copy(io.Discard, c)
	}
	_, xmppPort, _ := net.SplitHostPort(nettest.TLS(t, serverTLS, deep))
	tio := newTestIO(map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw"}, "")
	code := Main(context.Background(), []string{"check", "-t", "5s", "--ca-file", caFile, "--xmpp-port", xmppPort, siAddr}, tio.ios, "")
	if code != 20 || !strings.Contains(tio.out.String(), "nested more than 64 deep") {
		t.Errorf("exit %d, want 20 naming the depth limit:\n%s", code, tio.out)
	}
}
