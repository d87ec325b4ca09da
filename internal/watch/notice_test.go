package watch

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// A SystemInfo notification watch cannot read is reported once per watch,
// as a notice, however often it comes and whatever node the server names it
// by: a new name in every message must not be a new line, and memory, each.
// Notifications that are not SystemInfo's are not reported at all.
func TestUnreadableNotificationIsReportedOnce(t *testing.T) {
	var events []Event
	w := &watcher{cfg: Config{Emit: func(e Event) { events = append(events, e) }}.withDefaults(), code: finesse.OK}
	n := &nodeState{}
	notes := []xmppprobe.Notification{
		{Node: finesse.SystemInfoPath, Raw: "<Update><data>not XML</data></Update>", Data: []byte("not XML")},
		{Node: finesse.SystemInfoPath, Raw: "<Update/>"},
		{Node: finesse.SystemInfoPath, Raw: "<Update><data><SystemInfo/></data></Update>", Data: []byte("<SystemInfo/>")},
		{Node: "/finesse/api/User/1080001", Raw: "<Update/>"},
	}
	for i := range 1000 {
		notes = append(notes, xmppprobe.Notification{Node: "/node/" + strconv.Itoa(i), Source: finesse.SystemInfoPath, Raw: "<Update/>"})
	}
	for _, note := range notes {
		if err := w.onNotification(n, &note); err != nil {
			t.Fatal(err)
		}
	}
	if len(events) != 1 || events[0].Kind != KindNotice || events[0].Via != "notification" {
		t.Fatalf("%d events, want one notice: %+v", len(events), events[:min(len(events), 3)])
	}
}

// A stream lost soon after its login is reconnected after a growing pause,
// as a failed attempt is; one that stood a poll interval at once, with the
// count of attempts starting again. A server that drops every stream right
// after the login made watch log in 320 times a second.
func TestStreamsLostSoonBackOff(t *testing.T) {
	now := time.Unix(1000, 0)
	w := &watcher{cfg: Config{Now: func() time.Time { return now }, PollInterval: 20 * time.Second,
		BackoffMin: time.Second, Jitter: func() float64 { return 1 }}.withDefaults()}
	attempt := 0
	var waits []time.Duration
	for range 6 {
		waits = append(waits, w.reconnectWait(now.Add(-10*time.Millisecond), &attempt))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 20 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("waits after streams lost 10ms after login: %v, want %v", waits, want)
	}
	if wait := w.reconnectWait(now.Add(-time.Minute), &attempt); wait != 0 || attempt != 0 {
		t.Errorf("after a stream that stood a minute: wait %v, attempt %d; want 0, 0", wait, attempt)
	}
}
