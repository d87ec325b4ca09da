package watch

import (
	"testing"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// A SystemInfo notification watch cannot read is reported once per node, as
// a notice, however often it comes; notifications of other nodes are not
// reported at all.
func TestUnreadableNotificationIsReportedOnce(t *testing.T) {
	var events []Event
	w := &watcher{cfg: Config{Emit: func(e Event) { events = append(events, e) }}.withDefaults(), noticed: map[string]bool{}, code: finesse.OK}
	n := &nodeState{}
	for _, note := range []xmppprobe.Notification{
		{Node: finesse.SystemInfoPath, Raw: "<Update><data>not XML</data></Update>", Data: []byte("not XML")},
		{Node: finesse.SystemInfoPath, Raw: "<Update/>"},
		{Node: finesse.SystemInfoPath, Raw: "<Update><data><SystemInfo/></data></Update>", Data: []byte("<SystemInfo/>")},
		{Node: "/finesse/api/User/1080001", Raw: "<Update/>"},
	} {
		if err := w.onNotification(n, &note); err != nil {
			t.Fatal(err)
		}
	}
	if len(events) != 1 || events[0].Kind != KindNotice || events[0].Via != "notification" {
		t.Fatalf("events %+v, want one notice", events)
	}
}
