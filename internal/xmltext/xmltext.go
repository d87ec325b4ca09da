// Package xmltext is the XML handling that the probes and the simulator
// share for text from elsewhere: escaping what they write by hand, and
// decoding what a server sends without letting its nesting take memory.
package xmltext

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
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

// MaxDepth is how deep elements may nest in what LimitDepth decodes. The
// deepest a Finesse server sends is a pubsub notification, 6 levels below
// the stream; SystemInfo is 4 deep.
const MaxDepth = 64

// ErrTooDeep is what LimitDepth's decoder fails with at an element nested
// deeper than MaxDepth.
var ErrTooDeep = fmt.Errorf("XML elements nested more than %d deep", MaxDepth)

// LimitDepth is a decoder of tokens, with namespaces resolved, that fails
// with ErrTooDeep at an element nested deeper than MaxDepth. A decoder keeps
// a stack entry per open element, and a server that only ever opens
// elements (<a><a><a>...) otherwise costs about 45 bytes of memory per byte
// it sends: 190 MB for 4 MiB. tokens must be raw, as RawTokens gives them:
// the returned decoder resolves namespaces, which must happen once. End
// tags are matched here, so that a syntax error names the line of the
// document: the returned decoder counts no lines of its own.
func LimitDepth(tokens xml.TokenReader) *xml.Decoder {
	l := &depthLimit{r: tokens}
	if p, ok := tokens.(positioner); ok {
		l.pos = p
	}
	return xml.NewTokenDecoder(l)
}

// positioner is a token reader that knows where in its document it is.
type positioner interface{ InputPos() (line, column int) }

type depthLimit struct {
	r    xml.TokenReader
	pos  positioner // nil: syntax errors say line 0
	open []xml.Name // the raw names of the open elements
}

func (l *depthLimit) Token() (xml.Token, error) {
	t, err := l.r.Token()
	switch v := t.(type) {
	case xml.StartElement:
		if len(l.open) == MaxDepth {
			return nil, ErrTooDeep
		}
		l.open = append(l.open, v.Name)
	case xml.EndElement:
		if len(l.open) == 0 {
			return nil, l.syntaxError("unexpected end element </" + qualified(v.Name) + ">")
		}
		start := l.open[len(l.open)-1]
		if start != v.Name {
			return nil, l.syntaxError("element <" + qualified(start) + "> closed by </" + qualified(v.Name) + ">")
		}
		l.open = l.open[:len(l.open)-1]
	}
	if err == io.EOF && len(l.open) > 0 {
		return t, l.syntaxError("unexpected EOF")
	}
	return t, err
}

func (l *depthLimit) syntaxError(msg string) error {
	line := 0
	if l.pos != nil {
		line, _ = l.pos.InputPos()
	}
	return &xml.SyntaxError{Msg: msg, Line: line}
}

// qualified is a raw name as written: prefix:local.
func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// RawTokens is d's tokens as d.RawToken gives them, copied, since d reuses
// their memory: no namespace translation, and no stack of open elements.
func RawTokens(d *xml.Decoder) xml.TokenReader { return rawTokens{d} }

type rawTokens struct{ d *xml.Decoder }

func (r rawTokens) InputPos() (line, column int) { return r.d.InputPos() }

func (r rawTokens) Token() (xml.Token, error) {
	t, err := r.d.RawToken()
	if t == nil {
		return nil, err
	}
	return xml.CopyToken(t), err
}

// CheckDepth fails with ErrTooDeep where LimitDepth's decoder would, for a
// document that must be decoded from its bytes: an innerxml field is filled
// only by a decoder that reads bytes, which LimitDepth's does not.
func CheckDepth(doc []byte) error {
	tokens := depthLimit{r: RawTokens(xml.NewDecoder(bytes.NewReader(doc)))}
	for {
		if _, err := tokens.Token(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Reencode reads the rest of the element start begins from d and returns
// the whole element as XML, so that it can be decoded from bytes (for
// innerxml) where d gives only tokens. An element declares its namespace
// only where it differs from its parent's; the original's declarations are
// left out, as the names carry their namespaces already. A name that Go's
// decoder accepts but XML does not (<a:0/>, from a hostile server) may be
// written as XML that does not decode: an error where it is decoded.
func Reencode(d *xml.Decoder, start xml.StartElement) ([]byte, error) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	// spaces are the open elements' namespaces, names what was written for
	// them: an end tag must repeat its start tag's name.
	var spaces []string
	var names []xml.Name
	var t xml.Token = start
	for {
		switch v := t.(type) {
		case xml.StartElement:
			space := v.Name.Space
			v.Attr = WithoutNamespaceDeclarations(v.Attr)
			if len(spaces) > 0 && spaces[len(spaces)-1] == space {
				v.Name.Space = "" // inherited
			} else if space == "" {
				// In no namespace under a parent in one: say so, or the
				// parent's would be inherited.
				v.Attr = append(v.Attr, xml.Attr{Name: xml.Name{Local: "xmlns"}})
			}
			spaces, names = append(spaces, space), append(names, v.Name)
			t = v
		case xml.EndElement:
			v.Name = names[len(names)-1]
			spaces, names = spaces[:len(spaces)-1], names[:len(names)-1]
			t = v
		case xml.ProcInst, xml.Directive:
			t = nil // not content a decoder of the element reads
		}
		if t != nil {
			if err := enc.EncodeToken(t); err != nil {
				return nil, err
			}
		}
		if len(spaces) == 0 {
			break
		}
		var err error
		if t, err = d.Token(); err != nil {
			return nil, err
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WithoutNamespaceDeclarations is attrs without xmlns and xmlns:prefix,
// for an element whose name carries its namespace already.
func WithoutNamespaceDeclarations(attrs []xml.Attr) []xml.Attr {
	var out []xml.Attr
	for _, a := range attrs {
		if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
			out = append(out, a)
		}
	}
	return out
}
