package simulator

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseTimeline(t *testing.T) {
	steps, err := ParseTimeline("healthy@0s, 1:tomcat-down@5s,healthy@20s,webapp-down@2s")
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{{-1, Healthy, 0}, {-1, WebappDown, 2 * time.Second}, {1, TomcatDown, 5 * time.Second}, {-1, Healthy, 20 * time.Second}}
	if len(steps) != len(want) {
		t.Fatalf("steps = %+v", steps)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v", i, steps[i], want[i])
		}
	}
}

func TestParseTimelineErrors(t *testing.T) {
	for in, want := range map[string]string{
		"healthy":            "SCENARIO@OFFSET",
		"sunny@1s":           "unknown scenario",
		"healthy@soon":       "not a duration",
		"healthy@-1s":        "not a duration",
		"x:healthy@1s":       "not a node number",
		"healthy@1s,,down@2": "SCENARIO@OFFSET",
	} {
		if _, err := ParseTimeline(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTimeline(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// The timeline waits the gaps between steps, in order, on the injected clock.
func TestRunTimelineOrderAndWaits(t *testing.T) {
	steps, err := ParseTimeline("healthy@0s,tomcat-down@5s,0:healthy@20s")
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	var applied []string
	err = RunTimeline(context.Background(), steps, func(s Step) error {
		applied = append(applied, string(s.Scenario))
		return nil
	}, after)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(applied, ","); got != "healthy,tomcat-down,healthy" {
		t.Fatalf("applied %s", got)
	}
	if len(waits) != 3 || waits[0] != 0 || waits[1] != 5*time.Second || waits[2] != 15*time.Second {
		t.Fatalf("waits %v, want [0s 5s 15s]", waits)
	}
}

func TestRunTimelineStopsWithContext(t *testing.T) {
	steps, _ := ParseTimeline("healthy@1h")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	never := func(time.Duration) <-chan time.Time { return nil }
	err := RunTimeline(ctx, steps, func(Step) error { t.Error("step applied after cancel"); return nil }, never)
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
