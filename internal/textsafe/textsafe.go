// Package textsafe makes text from untrusted servers safe to print: on a
// terminal, in a log line, in a monitoring system's one-line status.
package textsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line makes a string from an untrusted server safe to print on one line
// of a terminal, a log or a monitoring system. ANSI escape sequences are
// removed; every run of whitespace (newlines included, so a server cannot
// forge extra output lines) becomes one space; other control and format
// characters (bidi overrides, zero-width characters) and invalid UTF-8 are
// shown as Go-style escapes such as \x1b or \u202e. The result is trimmed and
// holds at most max runes, ending in "…" when it was cut; max <= 0 means no
// limit. Line is idempotent.
func Line(s string, max int) string {
	var b strings.Builder
	runes := 0     // runes written to b
	fits := 0      // length of b at the last point where an ellipsis still fits
	space := false // a space is pending; written only if more text follows
	cut := false

	// write appends one indivisible piece (a rune or an escape), so that a
	// cut never leaves half an escape behind.
	write := func(piece string) bool {
		n := utf8.RuneCountInString(piece)
		if space && runes > 0 {
			n++
		}
		if max > 0 && runes+n > max {
			cut = true
			return false
		}
		if space && runes > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(piece)
		runes += n
		if max <= 0 || runes <= max-1 {
			fits = b.Len()
		}
		return true
	}

	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			i = skipEscape(s, i)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var ok bool
		switch {
		case r == utf8.RuneError && size == 1:
			ok = write(fmt.Sprintf(`\x%02x`, s[i]))
		case unicode.IsSpace(r):
			space, ok = true, true
		case unicode.IsGraphic(r):
			ok = write(s[i : i+size])
		case r < 0x80:
			ok = write(fmt.Sprintf(`\x%02x`, r))
		case r <= 0xffff:
			ok = write(fmt.Sprintf(`\u%04x`, r))
		default:
			ok = write(fmt.Sprintf(`\U%08x`, r))
		}
		if !ok {
			break
		}
		i += size
	}
	if cut {
		return b.String()[:fits] + "…"
	}
	return b.String()
}

// skipEscape returns the index just past the escape sequence that starts with
// the ESC at s[i]. It follows ECMA-48 loosely: being generous about what a
// sequence is only ever removes more of a hostile string.
func skipEscape(s string, i int) int {
	j := i + 1
	if j >= len(s) {
		return j
	}
	switch c := s[j]; {
	case c == '[': // CSI: parameters and intermediates, then one final byte
		j++
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
			j++
		}
		if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
			j++
		}
		return j
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
		// Terminals abandon the string at any other ESC, so stop there too.
		for j++; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == 0x1b {
				if j+1 < len(s) && s[j+1] == '\\' {
					return j + 2
				}
				return j
			}
		}
		return j
	case c >= 0x20 && c <= 0x2f: // intermediates, then one final byte
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
			j++
		}
		return j
	case c >= 0x30 && c <= 0x7e: // two-byte sequence such as ESC c
		return j + 1
	}
	return j // a lone ESC
}
