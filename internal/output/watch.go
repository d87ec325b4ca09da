package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/watch"
)

// WatchTimeLayout stamps each line of a watch: local time with its offset,
// to the second, so that a transcript lines up with the server's logs.
const WatchTimeLayout = "2006-01-02T15:04:05Z07:00"

// WatchEvent writes e as one line for people.
func WatchEvent(w io.Writer, e watch.Event, o TextOptions) error {
	mark, t, msg := watchMessage(e)
	line := fmt.Sprintf("%s  %s  %s %s", e.Time.Format(WatchTimeLayout), cleanShort(e.Server), mark, msg)
	if c := newPalette(o.Color).tone(t); c != nil {
		line = c.Sprint(line)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// tone is how a line of a watch is coloured.
type tone int

const (
	tonePlain tone = iota
	tonePass
	toneFail
	toneWarn
	toneDim
)

func (p palette) tone(t tone) *color.Color {
	return map[tone]*color.Color{tonePass: p.pass, toneFail: p.fail, toneWarn: p.warn, toneDim: p.dim}[t]
}

// watchMessage is the mark, tone and sentence of an event.
func watchMessage(e watch.Event) (mark string, t tone, msg string) {
	detail := ""
	if e.Detail != "" {
		detail = ": " + clean(e.Detail)
	}
	sc := finesse.ScenarioFor(e.Code)
	state := fmt.Sprintf("%s (exit %d, %s)", sc.Meaning, e.Code, sc.Slug)
	switch e.Kind {
	case watch.KindAvailable:
		return "✔", tonePass, "fully available: SystemInfo IN_SERVICE, XMPP connected, 'finesse' AVAILABLE"
	case watch.KindOutage:
		return "✘", toneFail, fmt.Sprintf("OUTAGE, seen by %s: %s%s", e.Via, state, detail)
	case watch.KindChanged:
		return "✘", toneFail, fmt.Sprintf("still out, now: %s%s", state, detail)
	case watch.KindRecovering:
		return "…", tonePlain, "recovering" + detail
	case watch.KindReconnect:
		return "…", toneDim, fmt.Sprintf("next attempt in %s", Duration(e.Wait))
	case watch.KindRecovered:
		return "✔", tonePass, fmt.Sprintf("RECOVERED after %s, seen by %s: fully available again", outageDuration(e.Outage), e.Via)
	case watch.KindAlternate:
		return alternateMessage(e)
	case watch.KindNotice:
		return "⚠", toneWarn, clean(e.Detail)
	case watch.KindStopped:
		return "■", tonePlain, fmt.Sprintf("stopped%s (exit %d)", detail, e.Code)
	}
	return "?", tonePlain, string(e.Kind) + detail
}

func alternateMessage(e watch.Event) (string, tone, string) {
	a := e.Alternate
	name := cleanShort(a.Target.Name)
	if a.Available() {
		return "⇄", tonePass, fmt.Sprintf("alternate %s is fully available: agents can fail over to it", name)
	}
	sc := finesse.ScenarioFor(a.ExitCode())
	return "⇄", toneWarn, fmt.Sprintf("alternate %s is NOT available (exit %d, %s): agents cannot fail over to it", name, a.ExitCode(), sc.Slug)
}

// outageDuration prints an outage's length: whole seconds and up from a
// minute, as Duration does below.
func outageDuration(d time.Duration) string {
	if d < time.Minute {
		return Duration(d)
	}
	return d.Round(time.Second).String()
}

// jsonWatchEvent is one line of 'watch -o json' (JSON Lines). Fields are
// only ever added.
type jsonWatchEvent struct {
	Time          string         `json:"time"`
	Server        string         `json:"server"`
	Event         string         `json:"event"`
	State         string         `json:"state"` // "available" or the failed criterion
	Scenario      string         `json:"scenario"`
	ExitCode      int            `json:"exit_code"`
	Via           string         `json:"via"`
	Detail        string         `json:"detail"`
	WaitSeconds   *float64       `json:"wait_seconds,omitempty"`
	OutageSeconds *float64       `json:"outage_seconds,omitempty"`
	Alternate     *jsonAlternate `json:"alternate,omitempty"`
}

type jsonAlternate struct {
	Server    string `json:"server"`
	Available bool   `json:"available"`
	ExitCode  int    `json:"exit_code"`
	Scenario  string `json:"scenario"`
}

// WatchEventJSON writes e as one JSON line.
func WatchEventJSON(w io.Writer, e watch.Event) error {
	state := string(e.Criterion())
	if e.Code == finesse.OK {
		state = "available"
	}
	// Events whose facts are not words (available, alternate) carry the
	// text report's sentence, so that detail always says something.
	detail := clean(e.Detail)
	if e.Detail == "" {
		_, _, detail = watchMessage(e)
	}
	j := jsonWatchEvent{Time: e.Time.Format(time.RFC3339Nano), Server: clean(e.Server), Event: string(e.Kind),
		State: state, Scenario: finesse.ScenarioFor(e.Code).Slug, ExitCode: int(e.Code), Via: e.Via, Detail: detail}
	if e.Kind == watch.KindReconnect {
		s := seconds(e.Wait)
		j.WaitSeconds = &s
	}
	if e.Kind == watch.KindRecovered {
		s := seconds(e.Outage)
		j.OutageSeconds = &s
	}
	if a := e.Alternate; a != nil {
		j.Alternate = &jsonAlternate{Server: clean(a.Target.Name), Available: a.Available(),
			ExitCode: int(a.ExitCode()), Scenario: finesse.ScenarioFor(a.ExitCode()).Slug}
	}
	return writeJSONLine(w, j)
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WatchSummary writes the outage summary of a watch for people.
func WatchSummary(w io.Writer, r watch.Report, o TextOptions) error {
	p := newPalette(o.Color)
	var b strings.Builder
	watched := r.Ended.Sub(r.Started)
	fmt.Fprintf(&b, "%s\n", p.head.Sprintf("Outage summary for %s: watched %s, from %s to %s",
		cleanShort(r.Server), outageDuration(watched), r.Started.Format(WatchTimeLayout), r.Ended.Format(WatchTimeLayout)))
	if len(r.Outages) == 0 {
		fmt.Fprintf(&b, "  no outage: fully available throughout\n")
	} else {
		fmt.Fprintf(&b, "  %d outage(s), down %s (%s available), mean time to recovery %s\n",
			len(r.Outages), outageDuration(r.Downtime()), availability(r), mttr(r))
		for i, out := range r.Outages {
			end, length := "ongoing", r.Ended.Sub(out.Start)
			if !out.End.IsZero() {
				end, length = out.End.Format(WatchTimeLayout), out.End.Sub(out.Start)
			}
			sc := finesse.ScenarioFor(out.Code)
			fmt.Fprintf(&b, "  #%d  %s → %s  %8s  %s (exit %d): %s%s\n", i+1, out.Start.Format(WatchTimeLayout), end,
				outageDuration(length), sc.Slug, out.Code, sc.Meaning, wentThrough(out.Seen))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wentThrough lists an outage's scenarios when it had more than one, so
// that a reader sees why it is named for one it did not begin with.
func wentThrough(seen []finesse.Code) string {
	if len(seen) < 2 {
		return ""
	}
	names := make([]string, len(seen))
	for i, c := range seen {
		names[i] = fmt.Sprintf("%s (%d)", finesse.ScenarioFor(c).Slug, c)
	}
	return "; went through " + strings.Join(names, " → ")
}

func availability(r watch.Report) string {
	watched := r.Ended.Sub(r.Started)
	if watched <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%.2f%%", 100*(1-r.Downtime().Seconds()/watched.Seconds()))
}

func mttr(r watch.Report) string {
	if m := r.MTTR(); m > 0 {
		return outageDuration(m)
	}
	return "none recovered"
}

type jsonOutage struct {
	Start           string  `json:"start"`
	End             *string `json:"end"` // null while it lasts
	DurationSeconds float64 `json:"duration_seconds"`
	Scenario        string  `json:"scenario"`
	ExitCode        int     `json:"exit_code"`
	Recovered       bool    `json:"recovered"`
	// Seen is every scenario the outage went through, in order; scenario
	// and exit_code above name the one of the earliest criterion.
	Seen []jsonScenario `json:"seen"`
}

type jsonScenario struct {
	Scenario string `json:"scenario"`
	ExitCode int    `json:"exit_code"`
}

type jsonWatchSummary struct {
	Time            string       `json:"time"`
	Server          string       `json:"server"`
	Event           string       `json:"event"` // "summary"
	Started         string       `json:"started"`
	Ended           string       `json:"ended"`
	WatchedSeconds  float64      `json:"watched_seconds"`
	Outages         []jsonOutage `json:"outages"`
	DowntimeSeconds float64      `json:"downtime_seconds"`
	MTTRSeconds     *float64     `json:"mttr_seconds"` // null when no outage ended
	ExitCode        int          `json:"exit_code"`
}

// WatchSummaryJSON writes the outage summary as the last JSON line.
func WatchSummaryJSON(w io.Writer, r watch.Report) error {
	j := jsonWatchSummary{Time: r.Ended.Format(time.RFC3339Nano), Server: clean(r.Server), Event: "summary",
		Started: r.Started.Format(time.RFC3339Nano), Ended: r.Ended.Format(time.RFC3339Nano),
		WatchedSeconds: seconds(r.Ended.Sub(r.Started)), Outages: []jsonOutage{},
		DowntimeSeconds: seconds(r.Downtime()), ExitCode: int(r.Code)}
	for _, o := range r.Outages {
		jo := jsonOutage{Start: o.Start.Format(time.RFC3339Nano), Scenario: finesse.ScenarioFor(o.Code).Slug, ExitCode: int(o.Code),
			Seen: make([]jsonScenario, len(o.Seen))}
		for i, c := range o.Seen {
			jo.Seen[i] = jsonScenario{Scenario: finesse.ScenarioFor(c).Slug, ExitCode: int(c)}
		}
		end := r.Ended
		if !o.End.IsZero() {
			end = o.End
			s := o.End.Format(time.RFC3339Nano)
			jo.End, jo.Recovered = &s, true
		}
		jo.DurationSeconds = seconds(end.Sub(o.Start))
		j.Outages = append(j.Outages, jo)
	}
	if m := r.MTTR(); m > 0 {
		s := seconds(m)
		j.MTTRSeconds = &s
	}
	return writeJSONLine(w, j)
}
