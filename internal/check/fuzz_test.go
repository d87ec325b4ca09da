package check

import (
	"strings"
	"testing"
	"unicode"
)

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"finesse-a.example.com", "finesse-a.example.com:443", "https://finesse-a.example.com:8445",
		"https://finesse-a.example.com/finesse/api/SystemInfo", "127.0.0.1:18445", "[::1]:8445", "::1", "[::1]",
		"http://finesse-a.example.com:8082", "https://admin:pw@finesse-a.example.com", "finesse-a.example.com:0",
		"finesse-a.example.com:99999", "", ":8445", "a b", "bad\x1b[31mhost", "[::1", "[fe80::1%eth0]:8445",
		"https://[::ffff:127.0.0.1]:8445/x?y#z", "host:+80", "https://host:", "finesse_a.example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Host == "" || tg.HTTPSPort < 1 || tg.HTTPSPort > 65535 || tg.Name != s {
			t.Fatalf("ParseTarget(%q) = %+v", s, tg)
		}
		if strings.ContainsAny(tg.Host, "/@ ") || strings.ContainsFunc(tg.Host, unicode.IsControl) {
			t.Fatalf("ParseTarget(%q): host %q", s, tg.Host)
		}
		// The URL the checks dial must name the same server again.
		again, err := ParseTarget(tg.BaseURL().Host)
		if err != nil || again.Host != tg.Host || again.HTTPSPort != tg.HTTPSPort {
			t.Fatalf("ParseTarget(%q) = %+v, but its BaseURL host %q gives %+v, %v", s, tg, tg.BaseURL().Host, again, err)
		}
	})
}
