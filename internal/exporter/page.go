package exporter

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/output"
)

// logSize is how many probes the page lists and /logs keeps.
const logSize = 100

// entry is one probe on the page: a check that ran, or one not run because
// its credentials failed authentication. Cached answers repeat an entry, so
// they add none.
type entry struct {
	ID       int
	Time     time.Time
	Subject  string
	How      string
	Verdict  check.Verdict
	ExitCode int
	Duration time.Duration
	report   []byte
}

// probeLog holds the last logSize entries, oldest first; guarded by
// Exporter.mu.
type probeLog struct {
	entries []entry
	nextID  int
}

func (e *Exporter) record(req Request, r check.Result, how string) {
	var report bytes.Buffer
	// Without colour: it is served as plain text, not to a terminal.
	if err := output.Text(&report, r, output.TextOptions{}); err != nil {
		fmt.Fprintf(&report, "\n(report incomplete: %v)\n", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l := &e.log
	l.nextID++
	l.entries = append(l.entries, entry{ID: l.nextID, Time: time.Now(), Subject: req.subject(), How: how,
		Verdict: r.Verdict(), ExitCode: int(r.ExitCode()), Duration: r.Duration, report: report.Bytes()})
	if len(l.entries) > logSize {
		l.entries = l.entries[len(l.entries)-logSize:]
	}
}

// page lists the probes newest first. html/template escapes every value:
// a target is whatever a scrape URL said. Parsed on first use, not at the
// start-up of every command.
var page = sync.OnceValue(func() *template.Template { return template.Must(template.New("page").Parse(pageText)) })

const pageText = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>finessectl serve</title></head>
<body>
<h1>finessectl serve</h1>
<p>Probe with <a href="/probe?target=HOST">/probe?target=HOST[:PORT]</a> or /probe?cluster=NAME;
the exporter's own metrics are at <a href="/metrics">/metrics</a>.</p>
<h2>Recent probes</h2>
<table>
<tr><th>time</th><th>target or cluster</th><th>result</th><th>verdict</th><th>exit code</th><th>duration</th><th>log</th></tr>
{{range .}}<tr><td>{{.Time.Format "2006-01-02 15:04:05"}}</td><td>{{.Subject}}</td><td>{{.How}}</td><td>{{.Verdict}}</td><td>{{.ExitCode}}</td><td>{{.Duration}}</td><td><a href="/logs?id={{.ID}}">log</a></td></tr>
{{else}}<tr><td colspan="7">none yet</td></tr>
{{end}}</table>
</body>
</html>
`

func (e *Exporter) servePage(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	entries := make([]entry, len(e.log.entries))
	for i, en := range e.log.entries {
		entries[len(entries)-1-i] = en
	}
	e.mu.Unlock()
	var b bytes.Buffer
	if err := page().Execute(&b, entries); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// serveLog answers the text report of probe ?id=N while it is among the
// last logSize.
func (e *Exporter) serveLog(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.URL.Query().Get("id"))
	if err != nil {
		badRequest(w, "id must be a probe number, as the links on / give")
		return
	}
	e.mu.Lock()
	var report []byte
	found := false
	for _, en := range e.log.entries {
		if en.ID == id {
			report, found = en.report, true
		}
	}
	e.mu.Unlock()
	if !found {
		http.Error(w, fmt.Sprintf("no probe %d among the last %d", id, logSize), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// The report quotes what servers said; never let a browser sniff HTML in it.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(report)
}
