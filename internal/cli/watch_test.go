package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/simulator"
)

// watchArgs are the flags of a watch of the simulator's nodes, with the
// intervals shortened so that an outage and its recovery take milliseconds.
func watchArgs(caFile string, securePort int, more ...string) []string {
	return append([]string{"watch", "--ca-file", caFile, "--xmpp-port", strconv.Itoa(securePort),
		"--ping-interval", "100ms", "--poll-interval", "200ms", "--timeout", "2s", "--presence-timeout", "1s"}, more...)
}

var watchEnv = map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-watch"}

func TestWatchUntilAvailableIsAGate(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-watch")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()

	tio := newTestIO(watchEnv, "")
	code := Main(context.Background(), watchArgs(caFile, secure, "--until", "available", node.HTTPSAddr()), tio.ios, "")
	out := tio.out.String()
	if code != 0 || !strings.Contains(out, "✔ fully available") || !strings.Contains(out, "Outage summary for "+node.HTTPSAddr()) ||
		!strings.Contains(out, "no outage") || strings.Contains(out, "\x1b") {
		t.Errorf("healthy node: exit %d\n%s%s", code, out, tio.errOut)
	}

	if err := node.SetScenario(simulator.NotificationDown); err != nil {
		t.Fatal(err)
	}
	tio = newTestIO(watchEnv, "")
	start := time.Now()
	code = Main(context.Background(), watchArgs(caFile, secure, "--until", "available", "--max-wait", "600ms", node.HTTPSAddr()), tio.ios, "")
	if code != 20 || !strings.Contains(tio.out.String(), "not fully available within --max-wait 600ms") {
		t.Errorf("node with its Notification Service down: exit %d, want 20\n%s", code, tio.out)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("--max-wait 600ms took %v", elapsed)
	}
}

// --until failure ends at the first failure scenario with its code; with
// -o json every line is an event, the last the summary.
func TestWatchUntilFailureJSON(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-watch")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	r := startCommand(watchEnv, watchArgs(caFile, secure, "--until", "failure", "-o", "json", node.HTTPSAddr())...)
	r.waitFor(t, func() bool { return strings.Contains(r.out.String(), `"event":"available"`) })
	if err := node.SetScenario(simulator.OutOfService); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-r.done:
		if code != 12 {
			t.Errorf("exit %d, want 12\n%s", code, r.errOut)
		}
	case <-time.After(10 * time.Second):
		r.cancel()
		t.Fatalf("still watching 10s after the node went out of service\n%s", r.out)
	}
	var events []string
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	for sc.Scan() {
		var e struct{ Event, State, Scenario string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		events = append(events, e.Event+"/"+e.State+"/"+e.Scenario)
	}
	want := "available/available/available outage/systeminfo/not-in-service stopped/systeminfo/not-in-service summary//"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
}

// Interrupted, a watch leaves the server cleanly, prints its summary and
// exits 0, whatever state the node is in.
func TestWatchInterrupted(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-watch")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	r := startCommand(watchEnv, watchArgs(caFile, secure, node.HTTPSAddr())...)
	r.waitFor(t, func() bool { return strings.Contains(r.out.String(), "fully available") })
	if err := node.SetScenario(simulator.FinesseDisconnected); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, func() bool { return strings.Contains(r.out.String(), "OUTAGE") })
	r.stop(t)
	out := r.out.String()
	for _, want := range []string{"OUTAGE, seen by presence", "(exit 30, finesse-unavailable)", "■ stopped: interrupted", "#1", "→ ongoing"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for node.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := node.Sessions(); n != 0 {
		t.Errorf("%d sessions left after the watch", n)
	}
}

func TestWatchStopsOnARejectedLogin(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-watch")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	tio := newTestIO(map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "wrong"}, "")
	code := Main(context.Background(), watchArgs(caFile, secure, node.HTTPSAddr()), tio.ios, "")
	if code != 22 || !strings.Contains(tio.out.String(), "not retried") || strings.Contains(tio.out.String()+tio.errOut.String(), "wrong") {
		t.Errorf("exit %d, want 22\n%s%s", code, tio.out, tio.errOut)
	}
}

func TestWatchUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"watch"}, "accepts between 1 and 2 arg(s)"},
		{[]string{"watch", "a", "b", "c"}, "accepts between 1 and 2 arg(s)"},
		{[]string{"watch", "--require", "any", "a"}, "--require does not apply to watch"},
		{[]string{"watch", "--textfile", "x", "a"}, "--textfile does not apply to watch"},
		{[]string{"watch", "--max-wait", "1m", "a"}, "--max-wait applies to --until available"},
		{[]string{"watch", "--until", "never", "a"}, `"never": use available`},
		{[]string{"watch", "-o", "junit", "a"}, "watch writes text or json"},
		{[]string{"watch", "--ping-interval", "0s", "a"}, "must be positive"},
		{[]string{"watch", "http://a", "--connect-only"}, "does not apply to watch"},
		{[]string{"watch", "a", "http://b"}, "HTTPS only"},
	} {
		tio := newTestIO(watchEnv, "")
		if code := Main(context.Background(), tt.args, tio.ios, ""); code != 64 || !strings.Contains(tio.errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, want 64 with %q\n%s", tt.args, code, tt.want, tio.errOut)
		}
	}
	// A monitoring plugin's command line gone wrong still gets UNKNOWN.
	tio := newTestIO(watchEnv, "")
	if code := Main(context.Background(), []string{"watch", "-o", "nagios", "a"}, tio.ios, ""); code != 3 || !strings.Contains(tio.out.String(), "watch writes text or json") {
		t.Errorf("watch -o nagios: exit %d, want 3 (UNKNOWN) with the error on stdout\n%s", code, tio.out)
	}
}
