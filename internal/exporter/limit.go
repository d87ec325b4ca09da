package exporter

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/metrics"
)

// slot is the state of one target or cluster: the check in flight and the
// last one that finished.
type slot struct {
	running *call
	last    *call
}

// call is one check; res and at are set before done is closed.
type call struct {
	done chan struct{}
	res  check.Result
	at   time.Time
}

// key names what a scrape checks, so that every spelling of one server
// (a.example, A.EXAMPLE:8445, https://a.example) shares a slot.
func (p Probe) key(req Request) string {
	if req.Cluster != "" {
		return "cluster\x00" + req.Cluster
	}
	names := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		names[i] = net.JoinHostPort(strings.ToLower(t.Host), strconv.Itoa(t.HTTPSPort))
	}
	return "target\x00" + strings.Join(names, " ")
}

func (r Request) subject() string {
	if r.Cluster != "" {
		return "cluster " + r.Cluster
	}
	return r.Target
}

// errStillRunning answers a scrape whose deadline passed while another
// scrape's check of the same target ran, when there is no earlier result.
var errStillRunning = fmt.Errorf("a check of this target started by another scrape is still running; " +
	"its result answers the next scrape (raise scrape_timeout above finessectl's --timeout to wait for it)")

// result answers a scrape of req: the last result of req's target when it is
// recent or a check of it is in flight, or else a check run now, under ctx's
// deadline. A scrape whose deadline passes while it waits for another
// scrape's check gets the last result, or errStillRunning when there is none;
// ctx's own error when the scraper left.
func (e *Exporter) result(ctx context.Context, req Request, p Probe) (res check.Result, how string, err error) {
	key := p.key(req)
	e.mu.Lock()
	s := e.slots[key]
	if s == nil {
		e.pruneLocked()
		s = &slot{}
		e.slots[key] = s
	}
	if c := s.running; c != nil {
		last := s.last
		e.mu.Unlock()
		select {
		case <-c.done:
			return c.res, resultCached, nil
		case <-ctx.Done():
			switch {
			case ctx.Err() != context.DeadlineExceeded:
				return res, "", ctx.Err()
			case last != nil:
				return last.res, resultCached, nil
			}
			return res, "", errStillRunning
		}
	}
	if c := s.last; c != nil && time.Since(c.at) < e.cfg.MinInterval {
		e.mu.Unlock()
		return c.res, resultCached, nil
	}
	c := &call{done: make(chan struct{})}
	s.running = c
	e.mu.Unlock()

	// The check runs under the exporter's context, so that a scraper that
	// leaves does not cancel it for the scrapes waiting on it, but within
	// this scrape's deadline.
	runCtx := e.ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(e.ctx, dl)
		defer cancel()
	}
	g := e.logins.gate(p, req.subject(), e.cfg.Logf)
	if g != nil {
		p.Options.Logins = g
	}
	res = e.cfg.Check(runCtx, p.Targets, p.Options)
	how = resultSuccess
	switch {
	case g != nil && g.wasRefused():
		how = resultAuthSuppressed
	case res.ExitCode() != finesse.OK:
		how = resultFailure
	}
	e.countFailures(res)

	e.mu.Lock()
	c.res, c.at = res, time.Now()
	s.running, s.last = nil, c
	e.mu.Unlock()
	close(c.done)
	e.record(req, res, how)
	return res, how, nil
}

// pruneLocked forgets the slots that no longer hold anything a scrape could
// use, so that scrapes of ever new targets do not grow the map without end.
func (e *Exporter) pruneLocked() {
	for k, s := range e.slots {
		if s.running == nil && (s.last == nil || time.Since(s.last.at) >= e.cfg.MinInterval) {
			delete(e.slots, k)
		}
	}
}

// countFailures adds the failed servers of r to finessectl_probe_failures_total,
// by the scenario finesse_probe_failed_check_info names them with.
func (e *Exporter) countFailures(r check.Result) {
	for _, scenario := range metrics.FailedScenarios(r) {
		e.failures.inc(scenario)
	}
}
