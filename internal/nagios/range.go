package nagios

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Range is a threshold in the Monitoring Plugins guidelines' format
// [@]start:end. Without '@' a value alerts when it lies outside start..end;
// with '@' when it lies inside. Both ends are inclusive, and either may be
// infinite ('~' for start, nothing for end).
type Range struct {
	start, end float64
	inside     bool // '@': alert inside the range rather than outside
}

// number is the guidelines' plain decimal: the Perl and Python libraries
// reject exponents, and strconv.ParseFloat alone would also take "Inf",
// "NaN", hex floats and underscores, none of which a threshold means.
// Compiled on first use, not at start-up: most runs read no threshold.
var number = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$`)
})

// ParseRange reads a threshold as the guidelines define it:
//
//	10      alert if x < 0 or x > 10
//	10:     alert if x < 10
//	~:10    alert if x > 10
//	10:20   alert if x < 10 or x > 20
//	@10:20  alert if 10 <= x <= 20
//
// start must not exceed end. An empty text, or one with neither start nor
// end ("@", ":", ":10"), is refused rather than read as 0 or as no
// threshold: a typo in a monitoring configuration should not silently
// disable an alert.
func ParseRange(text string) (Range, error) {
	r := Range{end: math.Inf(1)}
	spec := text
	if rest, ok := strings.CutPrefix(spec, "@"); ok {
		r.inside, spec = true, rest
	}
	startText, endText, hasColon := strings.Cut(spec, ":")
	if !hasColon {
		startText, endText = "0", spec
	}
	switch {
	case startText == "~":
		r.start = math.Inf(-1)
	case number().MatchString(startText):
		r.start, _ = strconv.ParseFloat(startText, 64)
	case startText == "":
		return Range{}, rangeError(text, "no start before ':' (write 0:END, END, or ~:END for no lower bound)")
	default:
		return Range{}, rangeError(text, fmt.Sprintf("%q is not a number or ~", startText))
	}
	switch {
	case number().MatchString(endText):
		r.end, _ = strconv.ParseFloat(endText, 64)
	case endText == "" && hasColon:
		// "start:" has no upper bound.
	case endText == "":
		return Range{}, rangeError(text, "empty (use a number such as 10, or a range such as 10:20)")
	default:
		return Range{}, rangeError(text, fmt.Sprintf("%q is not a number", endText))
	}
	if r.start > r.end {
		return Range{}, rangeError(text, "start is greater than end")
	}
	return r, nil
}

func rangeError(text, why string) error {
	return fmt.Errorf("threshold %q: %s; the format is [@]start:end, as in 10, 10:, ~:10, 10:20 or @10:20", text, why)
}

// Alert reports whether x breaches the threshold.
func (r Range) Alert(x float64) bool {
	within := r.start <= x && x <= r.end
	return within == r.inside
}

// String is the canonical text of the range, as perfdata carries it: start
// is left out when it is 0 and an end follows, as in the guidelines' "10".
func (r Range) String() string {
	var b strings.Builder
	if r.inside {
		b.WriteByte('@')
	}
	switch {
	case math.IsInf(r.start, -1):
		b.WriteString("~:")
	case r.start != 0 || math.IsInf(r.end, 1):
		b.WriteString(FormatNumber(r.start) + ":")
	}
	if !math.IsInf(r.end, 1) {
		b.WriteString(FormatNumber(r.end))
	}
	return b.String()
}

// FormatNumber writes x in plain decimal, never with an exponent, which the
// perfdata grammar does not allow.
func FormatNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
