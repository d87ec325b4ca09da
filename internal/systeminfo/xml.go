package systeminfo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/finessectl/finessectl/internal/textsafe"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// The helpers below walk tokens instead of using xml.Unmarshal because
// Unmarshal matches element names case-sensitively, and Finesse's documents
// and notifications spell the same element in different cases.
//
// encoding/xml never expands entities declared in a DOCTYPE (it reports them
// as unknown), so entity-expansion bombs fail fast instead of growing.

var utf8BOM = []byte("\xef\xbb\xbf")

var errEncoding = errors.New("encoding not supported (only UTF-8, ISO-8859-1 and US-ASCII are)")

// openRoot starts decoding data, checks that the root element is want
// (matched without regard to case, as everywhere here) and returns the
// decoder positioned just after the root's start tag.
func openRoot(data []byte, want string) (*xml.Decoder, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty document")
	}
	if trimmed[0] != '<' {
		return nil, fmt.Errorf("not XML: starts %s", quote(trimmed, 40))
	}
	raw := xml.NewDecoder(bytes.NewReader(data))
	raw.CharsetReader = charsetReader
	d := xmltext.LimitDepth(xmltext.RawTokens(raw))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, errors.New("no root element")
		}
		if err != nil {
			return nil, xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !strings.EqualFold(t.Name.Local, want) {
				return nil, fmt.Errorf("root element is <%s>, not <%s>", textsafe.Line(t.Name.Local, 60), want)
			}
			return d, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, errors.New("not XML: text before the root element")
			}
		}
		// Declarations, comments and DOCTYPE directives are skipped.
	}
}

// textFields reads the children of the current element into the strings
// named by their lower-cased element names, skipping any other child. A known
// field given twice is an error, as in parse.
func textFields(d *xml.Decoder, fields map[string]*string) error {
	seen := make(map[string]bool, len(fields))
	return eachChild(d, func(name string) error {
		p, ok := fields[name]
		if !ok {
			return skip(d)
		}
		if err := once(seen, name); err != nil {
			return err
		}
		return textInto(d, name, p)
	})
}

// once marks name as read in seen and refuses it the second time. Two values
// for one field (two <status>, one OUT_OF_SERVICE and one IN_SERVICE) leave
// it to the parser which one counts; no answer is safer than a guess.
func once(seen map[string]bool, name string) error {
	if seen[name] {
		return fmt.Errorf("element <%s> appears twice", name)
	}
	seen[name] = true
	return nil
}

// eachChild calls fn with the lower-cased local name of each child element
// of the element being read, until that element's end tag. fn must consume
// the child entirely (textInto, skip, or eachChild).
func eachChild(d *xml.Decoder, fn func(name string) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(strings.ToLower(t.Name.Local)); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// textInto stores the trimmed text of the element being read, whose
// lower-cased name is name. No known field holds markup, and dropping it
// would join the text around it into a value the server never sent
// (IN_<b>OUT_OF</b>SERVICE into IN_SERVICE), so a child element is an error.
func textInto(d *xml.Decoder, name string, p *string) error {
	var b []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b = append(b, t...)
		case xml.StartElement:
			return fmt.Errorf("markup inside <%s>", name)
		case xml.EndElement:
			*p = strings.TrimSpace(string(b))
			return nil
		}
	}
}

func skip(d *xml.Decoder) error {
	if err := d.Skip(); err != nil {
		return xmlErr(err)
	}
	return nil
}

// expectEnd insists that nothing but whitespace, comments and processing
// instructions follows the root element: a second element or stray text means
// the body is not the single document it claims to be.
func expectEnd(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("malformed XML: element <%s> after the root element", textsafe.Line(t.Name.Local, 60))
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("malformed XML: text after the root element")
			}
		}
	}
}

func xmlErr(err error) error {
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, errEncoding):
		return err
	case errors.As(err, &se) && se.Msg == "unexpected EOF":
		return fmt.Errorf("truncated XML: %w", err)
	}
	return fmt.Errorf("malformed XML: %w", err)
}

// charsetReader lets documents declared as ISO-8859-1 (what a Java stack
// falls back to) be read; every other non-UTF-8 encoding is refused by name.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii":
	default:
		return nil, errEncoding
	}
	raw, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	// ISO-8859-1 bytes are the first 256 code points; US-ASCII is a subset.
	out := make([]byte, 0, len(raw)+len(raw)/8)
	for _, c := range raw {
		out = utf8.AppendRune(out, rune(c))
	}
	return bytes.NewReader(out), nil
}

// quote gives a short, sanitized, quoted excerpt of server data.
func quote(b []byte, max int) string {
	return `"` + textsafe.Line(string(b), max) + `"`
}
