// Package xmltext escapes text for the XML that the probes and the
// simulator write by hand, where a value comes from a user or a server.
package xmltext

import (
	"encoding/xml"
	"strings"
)

// Escape makes s safe as XML character data or as a quoted attribute value:
// it escapes &, <, >, both quotes, tab, line feed and carriage return, and
// turns what XML cannot hold (NUL, invalid UTF-8) into U+FFFD.
func Escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
