package textsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "CTI connection lost", 200, "CTI connection lost"},
		{"non-ASCII letters kept", "Mise à jour 系统", 200, "Mise à jour 系统"},
		{"CSI colour removed", "\x1b[31mred\x1b[0m text", 200, "red text"},
		{"CSI clear screen removed", "a\x1b[2J\x1b[Hb", 200, "ab"},
		{"CSI private mode removed", "a\x1b[?25lb", 200, "ab"},
		{"OSC title ended by BEL removed", "\x1b]0;pwned\x07ok", 200, "ok"},
		{"OSC 8 hyperlink ended by ST removed", "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\", 200, "link"},
		{"unterminated OSC swallows the rest", "ok\x1b]0;title", 200, "ok"},
		{"DCS removed", "a\x1bPq#0;2;0;0;0\x1b\\b", 200, "ab"},
		{"two-byte escape removed", "a\x1bcb", 200, "ab"},
		{"charset designation removed", "a\x1b(Bb", 200, "ab"},
		{"lone trailing ESC removed", "a\x1b", 200, "a"},
		{"newlines cannot forge lines", "OK\r\nCRITICAL - fake\n", 200, "OK CRITICAL - fake"},
		{"whitespace runs collapsed and trimmed", " \t a \n\n b \v\f", 200, "a b"},
		{"unicode line separator", "a\u2028b\u0085c", 200, "a b c"},
		{"BEL escaped", "ring\a", 200, `ring\x07`},
		{"backspace escaped", "abc\b\b\bxyz", 200, `abc\x08\x08\x08xyz`},
		{"NUL and DEL escaped", "a\x00b\x7f", 200, `a\x00b\x7f`},
		{"C1 CSI escaped", "a\u009b31mb", 200, `a\u009b31mb`},
		{"bidi override escaped", "abc\u202edcba", 200, `abc\u202edcba`},
		{"zero-width space escaped", "a\u200bb", 200, `a\u200bb`},
		{"private use escaped", "a\ue000b", 200, `a\ue000b`},
		{"tag character escaped", "a\U000e0041b", 200, `a\U000e0041b`},
		{"invalid UTF-8 escaped", "a\xffb\xc3", 200, `a\xffb\xc3`},
		{"cut with ellipsis", "abcdefghij", 5, "abcd…"},
		{"exactly max not cut", "abcde", 5, "abcde"},
		{"cut never splits an escape", "abc\adef", 6, "abc…"},
		{"escape that fits", "abc\a", 7, `abc\x07`},
		{"max 1", "abc", 1, "…"},
		{"pending space does not count when cut", "abcd efgh", 5, "abcd…"},
		{"no limit", strings.Repeat("x", 300), 0, strings.Repeat("x", 300)},
		{"empty", "", 10, ""},
		{"only controls", "\x1b[0m\r\n", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Line(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Line(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if again := Line(got, tt.max); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func TestLineLongInput(t *testing.T) {
	in := strings.Repeat("é\x1b[1m\n", 1<<18) // about 2 MiB
	got := Line(in, 200)
	if n := utf8.RuneCountInString(got); n != 200 {
		t.Errorf("got %d runes, want 200", n)
	}
	if !strings.HasSuffix(got, "…") || strings.ContainsAny(got, "\x1b\n") {
		t.Errorf("got %q", got)
	}
}

func BenchmarkLine(b *testing.B) {
	s := "CTI connection lost \x1b[31m while failing over to side B\r\n"
	b.ReportAllocs()
	for b.Loop() {
		Line(s, 200)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07x", "a\r\nb", "\u202e\u009b\xff", " a  b "} {
		f.Add(s, 200)
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 300
		out := Line(s, max)
		if !utf8.ValidString(out) || !printable(out) {
			t.Errorf("Line(%q, %d) = %q is not printable", s, max, out)
		}
		if max > 0 && utf8.RuneCountInString(out) > max {
			t.Errorf("Line(%q, %d) = %q is too long", s, max, out)
		}
		if strings.TrimSpace(out) != out || strings.Contains(out, "  ") {
			t.Errorf("Line(%q, %d) = %q has stray spaces", s, max, out)
		}
		if again := Line(out, max); again != out {
			t.Errorf("not idempotent: %q -> %q -> %q", s, out, again)
		}
	})
}

func printable(s string) bool {
	for _, r := range s {
		if r != ' ' && !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}
