package xmltext

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// What Escape writes, as an attribute value and as text, an XML parser
// reads back as given, or with U+FFFD where XML cannot hold a character.
func TestEscapeReadsBack(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:             `plain`,
		`a"b'c<d>e&f`:       `a"b'c<d>e&f`,
		"tab\tline\nret\r.": "tab\tline\nret\r.",
		"nul\x00bad\xff":    "nul\uFFFDbad\uFFFD",
	} {
		var v struct {
			Attr string `xml:"a,attr"`
			Text string `xml:",chardata"`
		}
		doc := `<x a="` + Escape(in) + `">` + Escape(in) + `</x>`
		if err := xml.Unmarshal([]byte(doc), &v); err != nil {
			t.Errorf("%q: %v in %s", in, err, doc)
			continue
		}
		if v.Attr != want || v.Text != want {
			t.Errorf("%q read back as attribute %q and text %q, want %q", in, v.Attr, v.Text, want)
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A document that only opens elements is refused at MaxDepth, after
// reading a few KB of it: not after decoding megabytes into a stack of open
// elements. MaxDepth itself is decoded.
func TestLimitDepth(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("<a>", n) + strings.Repeat("</a>", n) }
	var v struct{}
	if err := LimitDepth(RawTokens(xml.NewDecoder(strings.NewReader(deep(MaxDepth))))).Decode(&v); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
	if err := LimitDepth(RawTokens(xml.NewDecoder(strings.NewReader(deep(MaxDepth + 1))))).Decode(&v); !errors.Is(err, ErrTooDeep) {
		t.Errorf("%d levels: %v, want ErrTooDeep", MaxDepth+1, err)
	}
	bomb := &countingReader{r: strings.NewReader(strings.Repeat("<a>", 4<<20/3))}
	if err := LimitDepth(RawTokens(xml.NewDecoder(bomb))).Decode(&v); !errors.Is(err, ErrTooDeep) || bomb.n > 64<<10 {
		t.Errorf("4 MiB of <a>: %v after reading %d bytes, want ErrTooDeep within 64 KiB", err, bomb.n)
	}
	if err := CheckDepth([]byte(deep(MaxDepth))); err != nil {
		t.Errorf("CheckDepth of %d levels: %v", MaxDepth, err)
	}
	if err := CheckDepth([]byte(deep(MaxDepth + 1))); !errors.Is(err, ErrTooDeep) {
		t.Errorf("CheckDepth of %d levels: %v, want ErrTooDeep", MaxDepth+1, err)
	}
}

// Namespaces are resolved as a byte-reading decoder resolves them, and an
// element encoded again decodes from its bytes to the same names, text and
// inner XML, with namespaces declared only where they change.
func TestReencode(t *testing.T) {
	const doc = `<s:root xmlns:s="urn:s" xmlns="urn:d" a="1" xml:lang="en"><child b="&lt;2&gt;" xmlns:p="urn:p" p:c="3">text &amp; more<x:leaf xmlns:x="urn:x"/><none xmlns=""/></child><?pi ignored?></s:root>`
	d := LimitDepth(RawTokens(xml.NewDecoder(strings.NewReader(doc))))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	if start.Name != (xml.Name{Space: "urn:s", Local: "root"}) {
		t.Fatalf("root %v", start.Name)
	}
	got, err := Reencode(d, start)
	if err != nil {
		t.Fatal(err)
	}
	const want = `<root xmlns="urn:s" a="1" xml:lang="en"><child xmlns="urn:d" b="&lt;2&gt;" xmlns:_="urn:p" _:c="3">text &amp; more<leaf xmlns="urn:x"></leaf><none xmlns=""></none></child></root>`
	if string(got) != want {
		t.Errorf("encoded again:\n%s\nwant\n%s", got, want)
	}
	var v struct {
		XMLName xml.Name
		A       string `xml:"a,attr"`
		Lang    string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
		Child   struct {
			XMLName xml.Name
			C       string `xml:"urn:p c,attr"`
			Inner   string `xml:",innerxml"`
			None    *struct {
				XMLName xml.Name
			} `xml:"none"`
		} `xml:"urn:d child"`
	}
	if err := xml.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	if v.XMLName.Space != "urn:s" || v.A != "1" || v.Lang != "en" || v.Child.XMLName.Space != "urn:d" || v.Child.C != "3" ||
		v.Child.Inner != `text &amp; more<leaf xmlns="urn:x"></leaf><none xmlns=""></none>` || v.Child.None == nil || v.Child.None.XMLName.Space != "" {
		t.Errorf("decoded %+v", v)
	}
	if _, err := d.Token(); err != io.EOF {
		t.Errorf("after the element: %v, want EOF", err)
	}
}

// Syntax errors that the depth limit's decoder finds name the line of the
// document they are on, as a decoder of the bytes would.
func TestLimitDepthSyntaxErrorsNameTheLine(t *testing.T) {
	for doc, want := range map[string]string{
		"<root>\n<x>\n</y>\n</root>":   "XML syntax error on line 3: element <x> closed by </y>",
		"<root>\n<p:x>\n</q:x></root>": "XML syntax error on line 3: element <p:x> closed by </q:x>",
		"<root>\n<x>\n":                "XML syntax error on line 3: unexpected EOF",
		"<root/>\n\n</extra>":          "XML syntax error on line 3: unexpected end element </extra>",
	} {
		d := LimitDepth(RawTokens(xml.NewDecoder(strings.NewReader(doc))))
		var err error
		for err == nil {
			_, err = d.Token()
		}
		if err.Error() != want {
			t.Errorf("%q: %v, want %s", doc, err, want)
		}
	}
}
