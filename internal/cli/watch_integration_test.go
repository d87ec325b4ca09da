//go:build integration

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// These tests run 'finessectl watch' through its real command path against
// the lab's real Prosody: the Notification Service stopped and restarted,
// and the 'finesse' user leaving and coming back, each detected and
// recovered from as the guide says; and a watch that ends leaves Prosody
// as a desktop signing out does.

// watchedEvent is what the tests read of a line of 'watch -o json'.
type watchedEvent struct {
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	ExitCode int       `json:"exit_code"`
	Via      string    `json:"via"`
	Detail   string    `json:"detail"`
	Outages  []struct {
		ExitCode  int  `json:"exit_code"`
		Recovered bool `json:"recovered"`
		Seen      []struct {
			ExitCode int `json:"exit_code"`
		} `json:"seen"`
	} `json:"outages"` // the summary line's
}

// liveWatch is a 'finessectl watch -o json' running against a lab.
type liveWatch struct {
	*running
	lab    *lab
	events []watchedEvent // parsed so far, in order
	next   int            // the first event await has not yet looked at
}

// startWatch watches the lab's node over the transport named mode (see
// labTransports) with intervals short enough for an outage and its recovery
// to take a second or two. The watch is cancelled and waited for when the
// test ends, before the lab stops.
func (l *lab) startWatch(t *testing.T, mode, systemInfo string) *liveWatch {
	t.Helper()
	var transport []string
	for _, m := range labTransports(l) {
		if m.mode == mode {
			transport = m.args
		}
	}
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": probePass}
	args := append([]string{"watch", "-o", "json", "--ca-file", l.caFile,
		"--ping-interval", "200ms", "--poll-interval", "300ms", "--timeout", "3s", systemInfo}, transport...)
	w := &liveWatch{lab: l, running: startCommand(creds, args...)}
	t.Cleanup(func() { w.interrupt(t) })
	return w
}

// interrupt cancels the watch, as Ctrl-C does, and returns its exit code,
// or -1 when it is still running 10 s later. It may be called again.
func (w *liveWatch) interrupt(t *testing.T) int {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		w.done <- code // for the next call
		return code
	case <-time.After(10 * time.Second):
		t.Errorf("the watch did not end within 10s of its cancellation\n%s", w.out)
		return -1
	}
}

// await reads events until one of kind comes, and returns it. It fails the
// test, with the events so far and Prosody's log, when within passes or the
// watch exits first.
func (w *liveWatch) await(t *testing.T, kind string, within time.Duration) watchedEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		w.parse(t)
		for ; w.next < len(w.events); w.next++ {
			if e := w.events[w.next]; e.Event == kind {
				w.next++
				return e
			}
		}
		select {
		case code := <-w.done:
			w.done <- code
			w.parse(t)
			t.Fatalf("the watch exited %d while waiting for %s; events: %s\nstderr: %s\n%s", code, kind, w.story(), w.errOut, w.lab.prosody.LogTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %v; events: %s\nstdout:\n%s\n%s", kind, within, w.story(), w.out, w.lab.prosody.LogTail())
		}
	}
}

// parse reads the complete lines written since the last call. Each event
// is written whole, in one Write.
func (w *liveWatch) parse(t *testing.T) {
	t.Helper()
	out := w.out.String()
	sc := bufio.NewScanner(strings.NewReader(out[:strings.LastIndexByte(out, '\n')+1]))
	for n := 0; sc.Scan(); n++ {
		if n < len(w.events) {
			continue
		}
		var e watchedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q is not a JSON event: %v", sc.Text(), err)
		}
		w.events = append(w.events, e)
	}
}

// story is the events so far as kind/exit/via, with the reconnection
// attempts and alternate verdicts, whose number depends on timing, left out.
func (w *liveWatch) story() string { return storyOf(w.events) }

func storyOf(events []watchedEvent) string {
	var parts []string
	for _, e := range events {
		if e.Event != "reconnect" && e.Event != "alternate" {
			parts = append(parts, fmt.Sprintf("%s/%d/%s", e.Event, e.ExitCode, e.Via))
		}
	}
	return strings.Join(parts, " ")
}

// stop interrupts the watch: it must exit 0, say it stopped and end with a
// summary of the outages named by codes (none when codes is empty), all
// recovered, each listing the scenarios its events went through.
func (w *liveWatch) stop(t *testing.T, codes ...int) {
	t.Helper()
	if exit := w.interrupt(t); exit != 0 {
		t.Fatalf("exit %d after the interruption, want 0\n%s", exit, w.errOut)
	}
	w.parse(t)
	if got := storyOf(w.events[w.next:]); got != "stopped/0/stop summary/0/" {
		t.Errorf("after the interruption: %s, want stopped/0/stop summary/0/", got)
	}
	summary := w.events[len(w.events)-1]
	var got []int
	seen := w.outageScenarios()
	for i, o := range summary.Outages {
		if !o.Recovered {
			t.Errorf("an outage of exit %d did not end\n%s", o.ExitCode, w.out)
		}
		got = append(got, o.ExitCode)
		var listed []int
		for _, s := range o.Seen {
			listed = append(listed, s.ExitCode)
		}
		if i < len(seen) && fmt.Sprint(listed) != fmt.Sprint(seen[i]) {
			t.Errorf("outage #%d lists scenarios %v, its events went through %v", i+1, listed, seen[i])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(codes) {
		t.Errorf("the summary's outages are named by exit %v, want %v\n%s", got, codes, w.out)
	}
}

// outageScenarios is, for each outage in the events, the exit codes it went
// through, each once, in the order first seen.
func (w *liveWatch) outageScenarios() [][]int {
	var all [][]int
	for _, e := range w.events {
		switch e.Event {
		case "outage":
			all = append(all, []int{e.ExitCode})
		case "changed":
			if n := len(all); n > 0 && !slices.Contains(all[n-1], e.ExitCode) {
				all[n-1] = append(all[n-1], e.ExitCode)
			}
		}
	}
	return all
}

// The Notification Service stops: the stream ends (exit 20), the watch
// keeps trying to reconnect, and once Prosody is back, and Tomcat's
// 'finesse' user logged in again, the node is fully available again. Twice:
// Tomcat back after the watch, then at once.
func TestIntegrationWatchNotificationServiceRestart(t *testing.T) {
	for _, mode := range watchedTransports {
		t.Run(mode, func(t *testing.T) { watchNotificationServiceRestart(t, mode) })
	}
}

// watchedTransports are how the watch tests reach Prosody: as desktops
// before 12.6 could, and as they do now.
var watchedTransports = []string{"direct", "websocket"}

func watchNotificationServiceRestart(t *testing.T, mode string) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	l.finesseOnline(t)
	w := l.startWatch(t, mode, https)
	w.await(t, "available", 15*time.Second)

	// The watch reconnects before Tomcat: connected, the 'finesse' user
	// UNAVAILABLE, it follows the guide's wait for AVAILABLE, then for
	// IN_SERVICE.
	w.restartProsody(t, func() {
		if e := w.await(t, "changed", 10*time.Second); e.ExitCode != 30 || e.Via != "check" {
			t.Errorf("reconnected as %+v, want exit 30 seen by the check", e)
		}
		l.finesseOnline(t)
	}, "changed/30/check recovering/30/presence recovered/0/poll")
	// Tomcat logs in at once: whether the watch reconnects before or after
	// it depends on timing, and either way the guide is followed to the end.
	w.restartProsody(t, func() { l.finesseOnline(t) },
		"recovered/0/check", "changed/30/check recovering/30/presence recovered/0/poll")
	// Each is named for the lost connection, also when the 'finesse' user
	// was seen leaving first: the earlier criterion explains the later.
	w.stop(t, 20, 20)
}

// restartProsody stops the lab's Prosody, which the watch must see at once
// by its stream's end, restarts it and calls back, which brings Tomcat's
// 'finesse' user back, as Prosody's shutdown ended its session too. The
// watch must then recover the way one of recoveries tells.
func (w *liveWatch) restartProsody(t *testing.T, back func(), recoveries ...string) {
	t.Helper()
	from := w.next
	stopping := time.Now()
	w.lab.prosody.Stop()
	outage := w.await(t, "outage", 5*time.Second)
	lost := outage
	// Prosody closes its sessions one by one, in no set order: when it
	// closes Tomcat's first, the probe sees the 'finesse' user leave
	// ("Disconnected: Received SIGTERM") before its own stream ends, and
	// the outage begins as that scenario.
	if outage.Via == "presence" && outage.ExitCode == 30 {
		lost = w.await(t, "changed", 5*time.Second)
	}
	// Seen by the stream's end, not inferred from unanswered pings: Prosody
	// closes each stream, usually with system-shutdown, and the connection.
	if lost.ExitCode != 20 || lost.Via != "stream" || strings.Contains(lost.Detail, xmppprobe.ErrPingTimeout.Error()) {
		t.Errorf("the connection's loss seen as %+v, want exit 20 by the stream's end", lost)
	}
	if lag := lost.Time.Sub(stopping); lag > 2*time.Second {
		t.Errorf("the connection's loss seen %v after Prosody was told to stop", lag)
	}
	// SystemInfo stays IN_SERVICE, so the guide's next step is to
	// reconnect, which fails while Prosody is down.
	if again := w.await(t, "reconnect", 5*time.Second); again.ExitCode != 20 {
		t.Errorf("reconnection planned in state %d, want 20", again.ExitCode)
	}

	w.lab.prosody.Restart(t)
	back()
	recovered := w.await(t, "recovered", 15*time.Second)
	got := storyOf(w.events[from:w.next])
	var matched bool
	for _, start := range []string{"outage/20/stream", "outage/30/presence changed/20/stream"} {
		for _, end := range recoveries {
			matched = matched || got == start+" "+end
		}
	}
	if !matched {
		t.Errorf("events %s\nwant   the stream's loss, possibly after the 'finesse' user's, then one of: %s", got, strings.Join(recoveries, "; "))
	}
	t.Logf("loss seen %v after the stop began (%s); recovered %v later: %s",
		lost.Time.Sub(stopping).Round(time.Millisecond), lost.Detail, recovered.Time.Sub(lost.Time).Round(time.Millisecond), got)
}

// The 'finesse' user leaves (Tomcat or the web app going down, as its
// client sees it) and comes back: the guide's wait for AVAILABLE, then for
// IN_SERVICE, which the lab's SystemInfo only answers when polled.
func TestIntegrationWatchFinesseLeavesAndReturns(t *testing.T) {
	for _, mode := range watchedTransports {
		t.Run(mode, func(t *testing.T) { watchFinesseLeavesAndReturns(t, mode) })
	}
}

func watchFinesseLeavesAndReturns(t *testing.T, mode string) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	leave := l.finesseOnline(t)
	w := l.startWatch(t, mode, https)
	w.await(t, "available", 15*time.Second)

	leave()
	if outage := w.await(t, "outage", 5*time.Second); outage.ExitCode != 30 || outage.Via != "presence" {
		t.Errorf("outage %+v, want exit 30 seen by presence", outage)
	}
	l.finesseOnline(t)
	w.await(t, "recovered", 10*time.Second)
	const want = "available/0/check outage/30/presence recovering/30/presence recovered/0/poll"
	if got := w.story(); got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
	w.stop(t, 30)
}

// An interrupted watch signs out as a desktop does, which a peer sees: the
// 'finesse' user, who shares the probe's roster, receives the probe's
// unavailable presence without a status. Prosody adds one ("Disconnected:
// unexpected eof while reading") when the connection ends with neither an
// unavailable presence nor a stream close, as xmppprobe cuts it without a
// TLS close_notify.
func TestIntegrationWatchLeavesProsodyCleanly(t *testing.T) {
	l := newLab(t)
	https := l.systemInfoServer(t, l.leaf)
	peer, _ := l.finesseSession(t)
	w := l.startWatch(t, "direct", https)
	w.await(t, "available", 15*time.Second)

	// probeBecomes reads the probe's presences as the 'finesse' user
	// receives them until one says available is the probe's state.
	probeBecomes := func(available bool) xmppprobe.Presence {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			p, err := peer.AwaitPresence(ctx, "probe@"+domain)
			if err != nil {
				t.Fatalf("the 'finesse' user never saw the probe available=%v: %v\nevents: %s\n%s", available, err, w.story(), l.prosody.LogTail())
			}
			if p.Available == available {
				return p
			}
		}
	}
	// What came before (the probe's unavailable presence, sent to the
	// 'finesse' user at its login) is read past.
	probeBecomes(true)
	w.stop(t)
	if p := probeBecomes(false); p.Status != "" {
		t.Errorf("the probe left with status %q, want none: the watch did not sign out before closing", p.Status)
	}
}
