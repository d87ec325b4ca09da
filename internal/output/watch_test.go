package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	goldenfile "github.com/finessectl/finessectl/internal/golden"
	"github.com/finessectl/finessectl/internal/watch"
)

// watchStory is a watch through one outage and its recovery, with the
// alternate checked meanwhile, and a server that sends a control sequence.
func watchStory() ([]watch.Event, watch.Report) {
	t0 := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	alt := check.ServerResult{Target: check.Target{Name: "finesse-b.example.com", Host: "finesse-b.example.com", HTTPSPort: 8445},
		Checks: []check.CheckResult{{Status: check.Pass}, {Status: check.Pass}, {Status: check.Pass}}}
	altDown := check.ServerResult{Target: alt.Target, Failure: &check.Failure{Criterion: finesse.CriterionXMPP,
		Code: finesse.XMPPConnectionFailed, Err: errors.New("connection refused")}}
	server := "finesse-a.example.com"
	events := []watch.Event{
		{Time: at(0), Kind: watch.KindAvailable, Via: "check"},
		{Time: at(42), Kind: watch.KindOutage, Code: finesse.XMPPConnectionFailed, Via: "stream",
			Detail: "XMPP connection lost: stream error: system-shutdown"},
		{Time: at(42), Kind: watch.KindAlternate, Code: finesse.XMPPConnectionFailed, Via: "check", Alternate: &alt},
		{Time: at(43), Kind: watch.KindReconnect, Code: finesse.XMPPConnectionFailed, Via: "check", Wait: 750 * time.Millisecond},
		{Time: at(50), Kind: watch.KindChanged, Code: finesse.NotInService, Via: "check",
			Detail: "SystemInfo status OUT_OF_SERVICE: \x1b[31mCTI down"},
		{Time: at(60), Kind: watch.KindAlternate, Code: finesse.NotInService, Via: "check", Alternate: &altDown},
		{Time: at(70), Kind: watch.KindNotice, Code: finesse.NotInService, Via: "notification",
			Detail: "a SystemInfo notification finessectl does not understand (reported once): <Update/>"},
		{Time: at(80), Kind: watch.KindRecovering, Code: finesse.NotInService, Via: "presence",
			Detail: "the 'finesse' user is AVAILABLE again; waiting for SystemInfo IN_SERVICE"},
		{Time: at(142), Kind: watch.KindRecovered, Via: "notification", Outage: 100 * time.Second},
		{Time: at(200), Kind: watch.KindStopped, Via: "stop", Detail: "interrupted"},
	}
	for i := range events {
		events[i].Server = server
	}
	rep := watch.Report{Server: server, Started: at(0), Ended: at(200),
		Outages: []watch.Outage{
			{Start: at(42), End: at(142), Code: finesse.XMPPConnectionFailed, Seen: []finesse.Code{finesse.FinesseUnavailable, finesse.XMPPConnectionFailed}},
			{Start: at(180), Code: finesse.FinesseUnavailable, Seen: []finesse.Code{finesse.FinesseUnavailable}}}}
	return events, rep
}

func TestWatchGoldens(t *testing.T) {
	events, rep := watchStory()
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"watch.txt", func(b *bytes.Buffer) error {
			for _, e := range events {
				if err := WatchEvent(b, e, TextOptions{}); err != nil {
					return err
				}
			}
			return WatchSummary(b, rep, TextOptions{})
		}},
		{"watch.color.txt", func(b *bytes.Buffer) error {
			for _, e := range events {
				if err := WatchEvent(b, e, TextOptions{Color: true}); err != nil {
					return err
				}
			}
			return WatchSummary(b, rep, TextOptions{Color: true})
		}},
		{"watch.jsonl", func(b *bytes.Buffer) error {
			for _, e := range events {
				if err := WatchEventJSON(b, e); err != nil {
					return err
				}
			}
			return WatchSummaryJSON(b, rep)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			goldenfile.Check(t, tt.name, b.Bytes(), *update)
			if tt.name != "watch.color.txt" && bytes.ContainsAny(b.Bytes(), "\x1b\x07\r") {
				t.Errorf("%s holds raw control characters:\n%q", tt.name, b.String())
			}
		})
	}
}

// Every JSON line is an object with the fields scripts read, whatever the
// event, and the summary comes last.
func TestWatchJSONLines(t *testing.T) {
	events, rep := watchStory()
	var b bytes.Buffer
	for _, e := range events {
		if err := WatchEventJSON(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := WatchSummaryJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != len(events)+1 {
		t.Fatalf("%d lines, want %d", len(lines), len(events)+1)
	}
	for i, m := range lines[:len(events)] {
		for _, k := range []string{"time", "server", "event", "state", "scenario", "exit_code", "via", "detail"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d (%v) lacks %q", i, m["event"], k)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
			t.Errorf("line %d: time %v", i, m["time"])
		}
	}
	outage := lines[1]
	if outage["state"] != "xmpp" || outage["scenario"] != "notification-service-down" || outage["exit_code"] != 20.0 {
		t.Errorf("outage line %v", outage)
	}
	if lines[0]["state"] != "available" || lines[0]["scenario"] != "available" {
		t.Errorf("available line %v", lines[0])
	}
	sum := lines[len(lines)-1]
	outages, _ := sum["outages"].([]any)
	if sum["event"] != "summary" || len(outages) != 2 || sum["mttr_seconds"] != 100.0 || sum["downtime_seconds"] != 120.0 {
		t.Errorf("summary %v", sum)
	}
	if second := outages[1].(map[string]any); second["end"] != nil || second["recovered"] != false {
		t.Errorf("ongoing outage %v", second)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if got := strings.Join(keys(sum), ","); got != "downtime_seconds,ended,event,exit_code,mttr_seconds,outages,server,started,time,watched_seconds" {
		t.Errorf("summary keys %s", got)
	}
}
