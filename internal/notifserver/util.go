package notifserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net"
	"strings"
)

// randomID returns 16 hex digits for stream, stanza and item ids and
// generated resources.
func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// attr returns the value of the unprefixed attribute name of se.
func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isSyntaxError(err error) bool {
	var se *xml.SyntaxError
	return errors.As(err, &se)
}

// withoutDeclaration drops a leading XML declaration. A REST body starts
// with one, but inside <data> it would make the <Update> ill-formed for
// strict parsers (Go's is lenient about it).
func withoutDeclaration(doc string) string {
	doc = strings.TrimSpace(doc)
	if strings.HasPrefix(doc, "<?xml ") {
		if end := strings.Index(doc, "?>"); end >= 0 {
			doc = strings.TrimSpace(doc[end+len("?>"):])
		}
	}
	return doc
}
