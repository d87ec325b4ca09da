// Package output renders a check.Result. Renderers write bytes to the writer
// they are given and decide nothing else: whether colour is wanted, and where
// the bytes go, is the command's business.
package output

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/textsafe"
)

// TextOptions tune the human-readable report.
type TextOptions struct {
	Color  bool // ANSI colours; the caller turns it off for NO_COLOR and non-terminals
	Phases bool // show per-phase timings of the XMPP criterion
}

type palette struct {
	pass, fail, skip, head, dim *color.Color
}

func newPalette(enabled bool) palette {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return palette{
		pass: mk(color.FgGreen, color.Bold),
		fail: mk(color.FgRed, color.Bold),
		skip: mk(color.Faint),
		head: mk(color.Bold),
		dim:  mk(color.Faint),
	}
}

// mark is the colour of a criterion's mark; skipped lines are dimmed whole.
func (p palette) mark(s check.Status) *color.Color {
	switch s {
	case check.Pass:
		return p.pass
	case check.Fail:
		return p.fail
	}
	return nil
}

var marks = map[check.Status]string{check.Pass: "✔", check.Fail: "✘", check.Skipped: "–"}

// Text writes one block per server, then a summary line when there are
// several servers.
func Text(w io.Writer, r check.Result, o TextOptions) error {
	p := newPalette(o.Color)
	var b strings.Builder
	for i, s := range r.Servers {
		if i > 0 {
			b.WriteString("\n")
		}
		writeServer(&b, p, s, o)
	}
	if len(r.Servers) > 1 {
		writeSummary(&b, p, r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeServer(b *strings.Builder, p palette, s check.ServerResult, o TextOptions) {
	code := s.ExitCode()
	switch {
	case s.Available():
		fmt.Fprintf(b, "%s %s  %s\n", p.pass.Sprint("✔"), p.head.Sprint(clean(s.Target.Name)),
			p.pass.Sprint("fully available"))
	case code == check.OK:
		fmt.Fprintf(b, "%s %s  %s\n", p.pass.Sprint("✔"), p.head.Sprint(clean(s.Target.Name)),
			p.pass.Sprint("reachable; presence not checked (--connect-only)"))
	default:
		fmt.Fprintf(b, "%s %s  %s\n", p.fail.Sprint("✘"), p.head.Sprint(clean(s.Target.Name)),
			p.fail.Sprintf("NOT AVAILABLE (exit %d)", code))
	}
	for _, c := range s.Checks {
		mark, dur := marks[c.Status], "     "
		if c.Status != check.Skipped {
			dur = fmt.Sprintf("%5s", Duration(c.Duration))
		}
		if col := p.mark(c.Status); col != nil {
			mark = col.Sprint(mark)
		}
		line := strings.TrimRight(fmt.Sprintf("  %s %-10s %s  %s", mark, c.Criterion, dur, clean(c.Message)), " ")
		if c.Status == check.Skipped {
			line = p.skip.Sprint(line)
		}
		b.WriteString(line + "\n")
		if o.Phases && len(c.Phases) > 0 {
			parts := make([]string, len(c.Phases))
			for i, ph := range c.Phases {
				parts[i] = ph.Name + " " + Duration(ph.Duration)
			}
			b.WriteString(p.dim.Sprint("                       "+strings.Join(parts, ", ")) + "\n")
		}
	}
	if s.Failure == nil {
		return
	}
	if !failedACheck(s) {
		// An internal error blames no criterion; its message must still show.
		fmt.Fprintf(b, "  %s %s\n", p.fail.Sprint("error:"), clean(s.Failure.Error()))
	}
	sc := s.Failure.Scenario()
	if sc.Guide != "" {
		fmt.Fprintf(b, "  %s %s\n", p.head.Sprint("scenario:"), sc.Guide)
	}
	if sc.Recovery != "" {
		fmt.Fprintf(b, "  %s %s\n", p.head.Sprint("recovery:"), sc.Recovery)
	}
	if alt := s.AlternateHost(); alt != "" {
		fmt.Fprintf(b, "  %s %s\n", p.head.Sprint("alternate server:"), clean(alt))
	}
}

func failedACheck(s check.ServerResult) bool {
	for _, c := range s.Checks {
		if c.Status == check.Fail {
			return true
		}
	}
	return false
}

func writeSummary(b *strings.Builder, p palette, r check.Result) {
	avail := 0
	for _, s := range r.Servers {
		if s.Available() {
			avail++
		}
	}
	line := fmt.Sprintf("\n%d of %d servers fully available; exit %d", avail, len(r.Servers), r.ExitCode())
	if r.ExitCode() == check.OK {
		b.WriteString(p.head.Sprint(line) + "\n")
		return
	}
	b.WriteString(p.fail.Sprint(line) + "\n")
}

// Duration prints a duration the way an operator reads it: milliseconds
// below a second, seconds with two decimals above.
func Duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", int(math.Round(float64(d)/float64(time.Millisecond))))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// clean makes text that may come from a server one printable line, so that
// nothing a server says can move the cursor, recolour or reorder a terminal.
func clean(s string) string { return textsafe.Line(s, 0) }
