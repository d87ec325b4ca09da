package xmltext

import (
	"encoding/xml"
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
