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
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
)

// TextOptions tune the human-readable report.
type TextOptions struct {
	Color   bool // ANSI colours; the caller turns it off for NO_COLOR and non-terminals
	Verbose bool // per-phase timings and the certificates seen
}

type palette struct {
	pass, fail, warn, skip, head, dim *color.Color
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
		warn: mk(color.FgYellow, color.Bold),
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

// detailIndent lines up detail lines under a criterion's message.
const detailIndent = "                       "

// Text writes one block per server, then a summary line when there are
// several servers.
func Text(w io.Writer, r check.Result, o TextOptions) error {
	p := newPalette(o.Color)
	var b strings.Builder
	for i, s := range r.Servers {
		if i > 0 {
			b.WriteString("\n")
		}
		writeServer(&b, p, s, r.Started, o)
	}
	if len(r.Servers) > 1 {
		writeSummary(&b, p, r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeServer(b *strings.Builder, p palette, s check.ServerResult, started time.Time, o TextOptions) {
	name := p.head.Sprint(clean(s.Target.Name))
	if s.PeerOf != "" {
		name += p.dim.Sprint(" (alternate of " + clean(s.PeerOf) + ", added by --peers)")
	}
	switch code := s.ExitCode(); {
	case s.Available():
		fmt.Fprintf(b, "%s %s  %s\n", p.pass.Sprint("✔"), name, p.pass.Sprint("fully available"))
	case code == finesse.OK:
		fmt.Fprintf(b, "%s %s  %s\n", p.pass.Sprint("✔"), name, p.pass.Sprint("reachable; presence not checked (--connect-only)"))
	default:
		fmt.Fprintf(b, "%s %s  %s\n", p.fail.Sprint("✘"), name, p.fail.Sprintf("NOT AVAILABLE (exit %d)", code))
	}
	for _, c := range s.Checks {
		writeCheck(b, p, s, c, o)
	}
	if s.BOSH != nil {
		writeBOSH(b, p, *s.BOSH)
	}
	for _, w := range s.Warnings {
		label := "⚠ warning:"
		if w.Severity == check.SeverityCritical {
			label = "⚠ critical:"
		}
		fmt.Fprintf(b, "  %s %s\n", p.warn.Sprint(label), warningMessage(w, s, started))
	}
	f := s.Failure
	if f == nil {
		return
	}
	if f.Criterion == "" {
		// An internal error blames no criterion; its message must still show.
		fmt.Fprintf(b, "  %s %s\n", p.fail.Sprint("error:"), failureLine(s))
	}
	for _, l := range advice(s) {
		fmt.Fprintf(b, "  %s %s\n", p.head.Sprint(l.label), l.text)
	}
}

func writeCheck(b *strings.Builder, p palette, s check.ServerResult, c check.CheckResult, o TextOptions) {
	mark, dur := marks[c.Status], "     "
	if c.Status != check.Skipped {
		dur = fmt.Sprintf("%5s", Duration(c.Duration))
	}
	if col := p.mark(c.Status); col != nil {
		mark = col.Sprint(mark)
	}
	line := strings.TrimRight(fmt.Sprintf("  %s %-10s %s  %s", mark, c.Criterion, dur, checkMessage(s, c)), " ")
	if c.Status == check.Skipped {
		line = p.skip.Sprint(line)
	}
	b.WriteString(line + "\n")
	if c.Criterion == finesse.CriterionXMPP && c.Status != check.Skipped && s.XMPPRoute != nil {
		b.WriteString(p.dim.Sprint(detailIndent+"transport: "+routeLine(*s.XMPPRoute)) + "\n")
	}
	if !o.Verbose {
		return
	}
	if len(c.Phases) > 0 {
		b.WriteString(p.dim.Sprint(detailIndent+phaseList(c.Phases)) + "\n")
	}
	if cert := checkCertificate(s, c.Criterion); cert != "" {
		b.WriteString(p.dim.Sprint(detailIndent+"certificate: "+cert) + "\n")
	}
}

// routeLine says how the Notification Service was reached and why, with
// what auto passed over first.
func routeLine(rt check.Route) string {
	line := rt.Why
	for _, sk := range rt.Skipped {
		line += "; passed over " + clean(sk.Where) + ": " + clean(sk.Err.Error())
	}
	return line
}

// writeBOSH reports the BOSH probe on a line of its own: not one of the
// guide's criteria, so it is not marked like one.
func writeBOSH(b *strings.Builder, p palette, r check.BOSHResult) {
	mark, text := p.pass.Sprint("✔"), "session created and terminated at "+clean(r.URL)
	if len(r.Mechanisms) > 0 {
		text += ", SASL " + strings.Join(cleanAll(r.Mechanisms), " ") + " offered"
	}
	if r.Err != nil {
		mark, text = p.fail.Sprint("✘"), clean(r.URL)+": "+clean(r.Err.Error())
	}
	fmt.Fprintf(b, "  %s %-10s %5s  %s\n", mark, "bosh", Duration(r.Duration), text)
}

func phaseList(ts []probe.Timing) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Phase + " " + Duration(t.Duration)
	}
	return strings.Join(parts, ", ")
}

// checkCertificate describes the certificate a criterion's port presented.
func checkCertificate(s check.ServerResult, c finesse.Criterion) string {
	switch {
	case c == finesse.CriterionSystemInfo && s.SystemInfo != nil:
		return certificateLine(s.SystemInfo.Certificate)
	case c == finesse.CriterionXMPP && s.XMPP != nil:
		return certificateLine(s.XMPP.Certificate)
	}
	return ""
}

// alternateText names where agents can go: the other node SystemInfo names,
// or, when SystemInfo could not tell, the other servers of this run that
// are fully available.
func alternateText(s check.ServerResult) string {
	if alt := s.AlternateHost(); alt != "" {
		return cleanShort(alt)
	}
	if len(s.AvailablePeers) == 0 {
		return ""
	}
	names := make([]string, len(s.AvailablePeers))
	for i, n := range s.AvailablePeers {
		names[i] = clean(n)
	}
	return strings.Join(names, ", ") + " (fully available in this run)"
}

func writeSummary(b *strings.Builder, p palette, r check.Result) {
	what := "fully available"
	if r.ConnectOnly() {
		what = "reachable (presence not checked: --connect-only)"
	}
	line := fmt.Sprintf("\n%d of %d servers %s", r.Passed(), len(r.Servers), what)
	switch {
	case r.Verdict() != check.VerdictDegraded:
	case len(r.Groups) > 1:
		line += "; degraded (each cluster judged under its own --require)"
	default:
		line += fmt.Sprintf("; degraded: %s (--require %s)", degradedMeaning(r.Require), r.Require)
	}
	code := r.ExitCode()
	line += fmt.Sprintf("; exit %d", code)
	if code == finesse.OK {
		b.WriteString(p.head.Sprint(line) + "\n")
		return
	}
	b.WriteString(p.fail.Sprint(line) + "\n")
}

// degradedMeaning says what a degraded run means under the rule in force.
func degradedMeaning(req check.Require) string {
	if req == check.RequireAny {
		return "agents can work on the servers that passed"
	}
	return "every server must pass"
}

// Duration prints a duration the way an operator reads it: milliseconds
// below a second, seconds with two decimals above.
func Duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", int(math.Round(float64(d)/float64(time.Millisecond))))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
