package nagios

import (
	"math"
	"strings"
	"testing"
)

// rangeCase is one threshold text: its canonical form when it parses, and
// which probe values alert. The integration test holds Debian's
// python3-nagiosplugin to the same table.
type rangeCase struct {
	text      string
	canonical string           // String() of the parsed range; "" when the text is refused
	alerts    map[float64]bool // value -> alert, for the values that matter to this range
	errHas    string           // part of the error, for a refused text
	// peerTakes marks a refused text that nagiosplugin reads anyway, as 0
	// (empty start or end) or as no threshold at all; refusing it is ours.
	peerTakes bool
}

var rangeCases = []rangeCase{
	// The guidelines' own examples.
	{text: "10", canonical: "10", alerts: map[float64]bool{-1: true, -0.001: true, 0: false, 5: false, 10: false, 10.001: true, 11: true}},
	{text: "10:", canonical: "10:", alerts: map[float64]bool{-1: true, 9.999: true, 10: false, 11: false, 1e9: false}},
	{text: "~:10", canonical: "~:10", alerts: map[float64]bool{-1e9: false, -1: false, 10: false, 10.5: true, 11: true}},
	{text: "10:20", canonical: "10:20", alerts: map[float64]bool{9: true, 10: false, 15: false, 20: false, 20.5: true}},
	{text: "@10:20", canonical: "@10:20", alerts: map[float64]bool{9: false, 10: true, 15: true, 20: true, 20.5: false}},
	// The guidelines' command-line examples: -c1:, -c5:6, -w10, -c20.
	{text: "1:", canonical: "1:", alerts: map[float64]bool{0: true, 0.99: true, 1: false, 100: false}},
	{text: "5:6", canonical: "5:6", alerts: map[float64]bool{4.9: true, 5: false, 6: false, 6.1: true}},
	{text: "20", canonical: "20", alerts: map[float64]bool{-1: true, 0: false, 20: false, 21: true}},
	// Decimals, signs, a single point and open ends.
	{text: "0.5", canonical: "0.5", alerts: map[float64]bool{0: false, 0.5: false, 0.6: true}},
	{text: "0.000001", canonical: "0.000001", alerts: map[float64]bool{0: false, 0.000001: false, 0.0001: true}},
	{text: "1.50:2.25", canonical: "1.5:2.25", alerts: map[float64]bool{1.49: true, 1.5: false, 2.25: false, 2.3: true}},
	{text: "-10:-5", canonical: "-10:-5", alerts: map[float64]bool{-11: true, -10: false, -5: false, 0: true}},
	{text: "+5", canonical: "5", alerts: map[float64]bool{-1: true, 5: false, 6: true}},
	{text: ".5:", canonical: "0.5:", alerts: map[float64]bool{0.4: true, 0.5: false}},
	{text: "5.:", canonical: "5:", alerts: map[float64]bool{4: true, 5: false}},
	{text: "3:3", canonical: "3:3", alerts: map[float64]bool{2.9: true, 3: false, 3.1: true}},
	{text: "@3:3", canonical: "@3:3", alerts: map[float64]bool{2.9: false, 3: true, 3.1: false}},
	{text: "0:", canonical: "0:", alerts: map[float64]bool{-0.1: true, 0: false, 1e12: false}},
	{text: "0:10", canonical: "10", alerts: map[float64]bool{-1: true, 0: false, 10: false, 11: true}},
	{text: "~:", canonical: "~:", alerts: map[float64]bool{-1e12: false, 0: false, 1e12: false}},
	{text: "@~:0", canonical: "@~:0", alerts: map[float64]bool{-5: true, 0: true, 0.1: false}},
	{text: "@10", canonical: "@10", alerts: map[float64]bool{-1: false, 0: true, 10: true, 11: false}},
	{text: "@5:", canonical: "@5:", alerts: map[float64]bool{4: false, 5: true, 1e9: true}},
	// Refused, as the peer refuses them too.
	{text: "20:10", errHas: "start is greater than end"},
	{text: "@20:10", errHas: "start is greater than end"},
	{text: "abc", errHas: `"abc" is not a number`},
	{text: "10:abc", errHas: `"abc" is not a number`},
	{text: "~", errHas: `"~" is not a number`},
	{text: "10:~", errHas: `"~" is not a number`},
	{text: "1:2:3", errHas: `"2:3" is not a number`},
	{text: "1e3", errHas: `"1e3" is not a number`},
	{text: "-", errHas: `"-" is not a number`},
	{text: "5s", errHas: `"5s" is not a number`},
	// Refused here, read by the peer: an empty threshold is a typo, not
	// "never alert" or "alert on negatives".
	{text: "", errHas: "empty", peerTakes: true},
	{text: "@", errHas: "empty", peerTakes: true},
	{text: ":", errHas: "no start", peerTakes: true},
	{text: ":10", errHas: "no start", peerTakes: true},
	{text: "@:", errHas: "no start", peerTakes: true},
	{text: " 10", errHas: `" 10" is not a number`, peerTakes: true},
}

func TestParseRange(t *testing.T) {
	for _, tt := range rangeCases {
		t.Run(tt.text, func(t *testing.T) {
			r, err := ParseRange(tt.text)
			if tt.canonical == "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), "[@]start:end") {
					t.Fatalf("ParseRange(%q) = %v, %v; want an error containing %q and the format", tt.text, r, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.text, err)
			}
			if got := r.String(); got != tt.canonical {
				t.Errorf("String() = %q, want %q", got, tt.canonical)
			}
			for x, want := range tt.alerts {
				if got := r.Alert(x); got != want {
					t.Errorf("Alert(%v) = %v, want %v", x, got, want)
				}
			}
			// The canonical text means the same range.
			again, err := ParseRange(r.String())
			if err != nil || again != r {
				t.Errorf("ParseRange(%q) = %+v, %v; want %+v", r.String(), again, err, r)
			}
		})
	}
}

func TestRangeInfinities(t *testing.T) {
	for _, tt := range []struct {
		text               string
		alertNeg, alertPos bool
	}{
		{text: "10:", alertNeg: true, alertPos: false},
		{text: "~:10", alertNeg: false, alertPos: true},
		{text: "@~:", alertNeg: true, alertPos: true},
	} {
		r, err := ParseRange(tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if r.Alert(math.Inf(-1)) != tt.alertNeg || r.Alert(math.Inf(1)) != tt.alertPos {
			t.Errorf("%s: Alert(-Inf) = %v, Alert(+Inf) = %v", tt.text, r.Alert(math.Inf(-1)), r.Alert(math.Inf(1)))
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 10: "10", 0.000001: "0.000001", 1.5: "1.5", 1e21: "1000000000000000000000", -3.25: "-3.25"} {
		if got := FormatNumber(x); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", x, got, want)
		}
	}
}
