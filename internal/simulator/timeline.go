package simulator

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Step switches a node (or all, Node -1) to Scenario at offset At from the
// start of the timeline.
type Step struct {
	Node     int
	Scenario Scenario
	At       time.Duration
}

// ParseTimeline reads "healthy@0s,tomcat-down@5s,1:healthy@20s": comma
// separated steps of [NODE:]SCENARIO@OFFSET, offsets as Go durations.
func ParseTimeline(s string) ([]Step, error) {
	var steps []Step
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, at, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("timeline step %q: write SCENARIO@OFFSET, such as tomcat-down@5s", part)
		}
		st := Step{Node: -1}
		if node, rest, found := strings.Cut(name, ":"); found {
			n, err := strconv.Atoi(node)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("timeline step %q: node %q is not a node number", part, node)
			}
			st.Node, name = n, rest
		}
		b, err := Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("timeline step %q: %w", part, err)
		}
		d, err := time.ParseDuration(at)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("timeline step %q: offset %q is not a duration such as 5s", part, at)
		}
		st.Scenario, st.At = b.Scenario, d
		steps = append(steps, st)
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At < steps[j].At })
	return steps, nil
}

// RunTimeline applies steps in order, each at its offset from now, until
// done or ctx ends. after is time.After outside tests.
func RunTimeline(ctx context.Context, steps []Step, apply func(Step) error, after func(time.Duration) <-chan time.Time) error {
	var elapsed time.Duration
	for _, st := range steps {
		select {
		case <-after(st.At - elapsed):
		case <-ctx.Done():
			return ctx.Err()
		}
		elapsed = st.At
		if err := apply(st); err != nil {
			return fmt.Errorf("timeline step %s@%v: %w", st.Scenario, st.At, err)
		}
	}
	return nil
}
