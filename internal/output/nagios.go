package output

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nagios"
	"github.com/finessectl/finessectl/internal/textsafe"
)

// The monitoring-plugin format (Monitoring Plugins guidelines, Nagios plugin
// API): a first line "FINESSE STATE - summary|perfdata" whose text part stays
// under 80 characters, then one line per server as long text. Nagios splits
// the output at the first '|' of each part, so no '|' from a server may
// reach it.

// nagiosLineMax is the guidelines' limit on the text before the perfdata.
const nagiosLineMax = 79

// nagiosNameMin is as short as a server name gets in the summary to make
// room for the reason; a summary longer still is cut at the end.
const nagiosNameMin = 12

// Nagios writes r as a monitoring plugin's output and returns the state it
// wrote, which must be the process's exit code: both come from this one
// evaluation. warn and crit are the -w and -c thresholds on the run's
// duration in seconds (nil when not given).
func Nagios(w io.Writer, r check.Result, warn, crit *nagios.Range) (nagios.State, error) {
	state := nagios.Evaluate(r, warn, crit)
	var b strings.Builder
	b.WriteString(nagiosFirstLine(state, nagiosSummary(r, state, warn, crit)))
	b.WriteString("|" + strings.Join(perfdata(r, warn, crit), " ") + "\n")
	for _, s := range r.Servers {
		writeNagiosServer(&b, s, r.Started)
	}
	_, err := io.WriteString(w, b.String())
	return state, err
}

// NagiosError writes the one line a plugin owes Nagios when it could not
// check anything (a usage or internal error); the caller exits UNKNOWN.
func NagiosError(w io.Writer, err error) error {
	// Not cut to 80 characters: the whole error is worth more than the
	// guideline, and it is the only line there is.
	_, werr := io.WriteString(w, nagiosPrefix(nagios.Unknown)+noPipe(clean(err.Error()))+"\n")
	return werr
}

func nagiosPrefix(state nagios.State) string { return "FINESSE " + state.String() + " - " }

// nagiosFirstLine is "FINESSE STATE - summary", the summary cut to fit the
// guidelines' 80 characters.
func nagiosFirstLine(state nagios.State, summary string) string {
	prefix := nagiosPrefix(state)
	return prefix + textsafe.Line(summary, nagiosLineMax-utf8.RuneCountInString(prefix))
}

// nagiosSummary says why the run has its state: how many servers passed,
// the duration when a threshold raised the state, and the first server
// with the worst state and why. When the name does not fit whole, the count
// gives way to it, except in a degraded --require any run, where the count
// is the news and the server goes instead if even a shortened name does not
// fit (the long text names every server). A name still too long is cut.
func nagiosSummary(r check.Result, state nagios.State, warn, crit *nagios.Range) string {
	var count, took string
	if len(r.Servers) > 1 {
		count = countSentence(r)
	}
	if rs, ds := nagios.RunState(r), nagios.DurationState(r.Duration, warn, crit); nagios.Worst(rs, ds) != rs {
		threshold := "-w " + warn.String()
		if ds == nagios.Critical {
			threshold = "-c " + crit.String()
		}
		took = fmt.Sprintf("took %s (%s)", Duration(r.Duration), threshold)
	}
	s, ok := decisiveServer(r)
	if !ok {
		return joinParts(count, took)
	}
	name, what := noPipe(cleanShort(s.Target.Name)), serverReason(s, r.Started)
	budget := nagiosLineMax - utf8.RuneCountInString(nagiosPrefix(state))
	room := func(parts ...string) int {
		return budget - utf8.RuneCountInString(joinParts(append(parts, ": "+what)...))
	}
	switch degraded := r.Require == check.RequireAny && r.Verdict() == check.VerdictDegraded; {
	case room(count, took) >= utf8.RuneCountInString(name):
	case !degraded:
		count = ""
	case room(count, took) < nagiosNameMin:
		return joinParts(count, took)
	}
	return joinParts(count, took, textsafe.Line(name, max(room(count, took), nagiosNameMin))+": "+what)
}

// joinParts joins the summary's non-empty parts.
func joinParts(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), "; ")
}

// countSentence counts the servers that passed.
func countSentence(r check.Result) string {
	passed := r.Passed()
	what := "fully available"
	if r.ConnectOnly() {
		what = "reachable"
	}
	if r.Verdict() == check.VerdictDegraded && r.Require == check.RequireAny {
		group := "degraded"
		if len(r.Servers) == 2 {
			group = "pair degraded"
		}
		return fmt.Sprintf("%s: %d of %d %s", group, passed, len(r.Servers), what)
	}
	return fmt.Sprintf("%d of %d servers %s", passed, len(r.Servers), what)
}

// decisiveServer is the first server, in the order given, with the worst
// state; a single server is always named. Several servers that are all OK
// need no name.
func decisiveServer(r check.Result) (check.ServerResult, bool) {
	if len(r.Servers) == 1 {
		return r.Servers[0], true
	}
	found, worst := -1, nagios.OK
	for i, s := range r.Servers {
		if st := nagios.ServerState(s); st != nagios.OK && (found < 0 || nagios.Worst(worst, st) != worst) {
			found, worst = i, st
		}
	}
	if found < 0 {
		return check.ServerResult{}, false
	}
	return r.Servers[found], true
}

// serverReason is a server's state in a few words: the exit code and what
// it means, or its warnings, most severe first.
func serverReason(s check.ServerResult, started time.Time) string {
	if f := s.Failure; f != nil {
		return fmt.Sprintf("exit %d %s", f.Code, shortMeanings[f.Code])
	}
	if len(s.Warnings) == 0 {
		if s.ConnectOnly {
			return "reachable (--connect-only)"
		}
		return "fully available"
	}
	ws := slices.Clone(s.Warnings)
	slices.SortStableFunc(ws, func(a, b check.Warning) int {
		return severityRank(b.Severity) - severityRank(a.Severity)
	})
	var phrases []string
	for _, w := range ws {
		if p := shortWarning(w, s, started); !slices.Contains(phrases, p) {
			phrases = append(phrases, p)
		}
	}
	return strings.Join(phrases, ", ")
}

func severityRank(s check.Severity) int {
	if s == check.SeverityCritical {
		return 1
	}
	return 0
}

// shortMeanings name each failure in the few words the first line has room
// for; failureLine in the long text says the rest.
var shortMeanings = map[finesse.Code]string{
	finesse.SystemInfoUnreachable:  "systeminfo unreachable",
	finesse.SystemInfoTLS:          "systeminfo TLS failure",
	finesse.NotInService:           "systeminfo not IN_SERVICE",
	finesse.SystemInfoUnusable:     "systeminfo answer unusable",
	finesse.XMPPConnectionFailed:   "xmpp connection failed",
	finesse.XMPPTLS:                "xmpp TLS failure",
	finesse.XMPPAuthFailed:         "xmpp login rejected",
	finesse.FinesseUnavailable:     "presence UNAVAILABLE",
	finesse.FinessePresenceMissing: "no presence",
	finesse.Internal:               "internal error",
}

// shortWarning names a warning in a few words. Both ports usually present
// the same Tomcat certificate, so their expiry reads the same and is said
// once (serverReason drops the repeat).
func shortWarning(w check.Warning, s check.ServerResult, started time.Time) string {
	switch w.Code {
	case check.WarnMaintenance:
		return "in maintenance"
	case check.WarnCTIHeartbeat:
		return "CTI heartbeat failed"
	case check.WarnHTTPSCertExpiring:
		return "certificate expires in " + daysLeft(s.SystemInfo.Certificate.NotAfter, started)
	case check.WarnXMPPCertExpiring:
		return "certificate expires in " + daysLeft(s.XMPP.Certificate.NotAfter, started)
	}
	return string(w.Code)
}

// writeNagiosServer is a server's long text: its state and why, then each
// warning on a line of its own.
func writeNagiosServer(b *strings.Builder, s check.ServerResult, started time.Time) {
	name := clean(s.Target.Name)
	if s.PeerOf != "" {
		name += " (alternate of " + clean(s.PeerOf) + ", added by --peers)"
	}
	st := nagios.ServerState(s)
	var what string
	switch {
	case s.Failure != nil:
		what = fmt.Sprintf("exit %d: %s", s.Failure.Code, failureLine(s))
	case s.ConnectOnly:
		what = "reachable; presence not checked (--connect-only)"
	default:
		what = "fully available"
	}
	if n := len(s.Warnings); n > 0 {
		what += fmt.Sprintf(", with %d %s", n, plural(n, "warning", "warnings"))
	}
	b.WriteString(noPipe(fmt.Sprintf("%s: %s %s", name, st, what)) + "\n")
	for _, w := range s.Warnings {
		b.WriteString(noPipe(fmt.Sprintf("  %s [%s]: %s", w.Severity, w.Code, warningMessage(w, s, started))) + "\n")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// perfdata lists the run's metrics in the guidelines' grammar
// 'label'=value[UOM];[warn];[crit];[min];[max]: per server the time of each
// criterion that ran, whether it is fully available, and the days left on
// each certificate seen; then the run's duration with -w and -c. A label
// is given once, the first time: a server given twice, or names that differ
// only in what perfLabel replaces, would otherwise repeat it, and graphing
// add-ons keep one value per label.
func perfdata(r check.Result, warn, crit *nagios.Range) []string {
	var items []string
	seen := map[string]bool{}
	add := func(label, value string) {
		label = perfLabel(label)
		if !seen[label] {
			seen[label] = true
			items = append(items, label+"="+value)
		}
	}
	certWarn, certCrit := nagios.FormatNumber(days(r.CertWarn))+":", nagios.FormatNumber(days(r.CertCrit))+":"
	for _, s := range r.Servers {
		name := cleanShort(s.Target.Name)
		for _, c := range s.Checks {
			if c.Status != check.Skipped {
				add(name+"_"+string(c.Criterion), perfSeconds(c.Duration)+";;;0;")
			}
		}
		available := "0"
		if s.Available() {
			available = "1"
		}
		add(name+"_available", available+";;;0;1")
		if s.SystemInfo != nil && s.SystemInfo.Certificate != nil {
			add(name+"_https_cert_days", fmt.Sprintf("%d;%s;%s;;",
				certDaysLeft(s.SystemInfo.Certificate.NotAfter, r.Started), certWarn, certCrit))
		}
		if s.XMPP != nil && s.XMPP.Certificate != nil {
			add(name+"_xmpp_cert_days", fmt.Sprintf("%d;%s;%s;;",
				certDaysLeft(s.XMPP.Certificate.NotAfter, r.Started), certWarn, certCrit))
		}
	}
	add("duration", perfSeconds(r.Duration)+";"+rangeText(warn)+";"+rangeText(crit)+";0;")
	return items
}

// perfLabel quotes a label as the guidelines ask (” for a quote inside).
// '=' would end the label, '|' the perfdata, and whitespace an item, so
// they become '_'; control characters were escaped by clean already.
func perfLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '=' || r == '|' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// perfSeconds is a duration in seconds, to the microsecond, with the UOM.
func perfSeconds(d time.Duration) string { return nagios.FormatNumber(seconds(d)) + "s" }

func days(d time.Duration) float64 { return d.Hours() / 24 }

func rangeText(r *nagios.Range) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// noPipe keeps a '|' from a server out of plugin output, where Nagios would
// take what follows for perfdata. It becomes the visible escape textsafe
// uses for other unprintable characters.
func noPipe(s string) string { return strings.ReplaceAll(s, "|", `\x7c`) }
