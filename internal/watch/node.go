package watch

import (
	"context"
	"strings"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// nodeState is what the live stream says of the node: the two criteria
// beyond the connection itself.
type nodeState struct {
	presence  bool // the 'finesse' user is AVAILABLE
	inService bool // SystemInfo's last word was IN_SERVICE
	// confirm asks for a SystemInfo poll now: the presence came back, and
	// the guide then waits for IN_SERVICE.
	confirm bool
}

// onLive handles what the stream carried.
func (w *watcher) onLive(n *nodeState, e xmppprobe.LiveEvent) error {
	switch {
	case e.Presence != nil:
		if e.Presence.Available == n.presence {
			return nil
		}
		n.presence = e.Presence.Available
		if !n.presence {
			code := finesse.FinesseUnavailable
			if !n.inService {
				code = finesse.NotInService // the first criterion that fails names the state
			}
			return w.down(code, "presence", presenceDetail(e.Presence))
		}
		if w.code == finesse.OK {
			return nil
		}
		// The guide's step 3: AVAILABLE, then wait for IN_SERVICE.
		n.confirm = true
		w.emit(Event{Kind: KindRecovering, Code: w.code, Via: "presence",
			Detail: "the 'finesse' user is AVAILABLE again; waiting for SystemInfo IN_SERVICE"})
		return nil
	case e.Notification != nil:
		return w.onNotification(n, e.Notification)
	}
	return nil
}

func presenceDetail(p *xmppprobe.Presence) string {
	s := "the 'finesse' user is UNAVAILABLE"
	if p.Status != "" {
		s += ": " + p.Status
	}
	return s
}

func (w *watcher) onNotification(n *nodeState, note *xmppprobe.Notification) error {
	if !strings.EqualFold(note.Node, finesse.SystemInfoPath) && !strings.EqualFold(note.Source, finesse.SystemInfoPath) {
		// Other nodes (the probe user's own) carry nothing watch needs.
		return nil
	}
	var info *systeminfo.Info
	var err error
	if note.Data != nil {
		info, err = systeminfo.Parse(note.Data)
	}
	if info == nil || err != nil || info.Status == "" {
		// Once per watch, not per node name: the server names the nodes,
		// and a new name in every message would otherwise be a new line
		// and a map entry each, without end.
		if !w.noticed {
			w.noticed = true
			w.emit(Event{Kind: KindNotice, Code: w.code, Via: "notification",
				Detail: "a SystemInfo notification finessectl does not understand (reported once): " + note.Raw})
		}
		return nil
	}
	return w.onSystemInfo(n, info, "notification")
}

// onSystemInfo handles a SystemInfo status, notified or polled.
func (w *watcher) onSystemInfo(n *nodeState, info *systeminfo.Info, via string) error {
	n.inService = info.InService()
	switch {
	case n.inService && n.presence:
		if w.code == finesse.OK {
			return nil
		}
		return w.up(via, "SystemInfo "+info.Status)
	case n.inService:
		return nil // the outage is the presence's
	}
	detail := "SystemInfo status " + info.Status
	if info.StatusReason != "" {
		detail += ": " + info.StatusReason
	}
	return w.down(finesse.NotInService, via, detail)
}

// pollResult is a SystemInfo poll of the watched node.
type pollResult struct {
	info *systeminfo.Info
	err  error
}

func (w *watcher) poll(ctx context.Context, r check.ServerResult, out chan<- *pollResult) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Options.Timeout)
	defer cancel()
	resp, err := w.cfg.Options.SystemInfoClient().Fetch(ctx, r.Target.BaseURL())
	p := &pollResult{err: err}
	if resp != nil {
		p.info = resp.Info
	}
	select {
	case out <- p:
	case <-ctx.Done():
	}
}

// onPoll handles a poll made while the stream stands. An unreachable
// SystemInfo changes nothing: the stream is the witness of the connection,
// and the guide waits on it.
func (w *watcher) onPoll(n *nodeState, p *pollResult) error {
	if p.info == nil {
		return nil
	}
	return w.onSystemInfo(n, p.info, "poll")
}

// learnAlternate notes the alternate node: the one given, else the one
// SystemInfo names.
func (w *watcher) learnAlternate(r check.ServerResult) {
	if w.cfg.Alternate != nil {
		w.alternate = w.cfg.Alternate
		return
	}
	if t, ok := r.AlternateTarget(); ok {
		w.alternate = &t
	}
}

// checkAlternate checks the alternate in the background, at most once per
// poll interval during an outage, so that its verdict never delays noticing
// the watched node's.
func (w *watcher) checkAlternate() {
	if w.alternate == nil || w.altRunning || w.code == finesse.OK || w.cfg.Now().Before(w.altNextCheck) {
		return
	}
	w.altRunning = true
	w.altNextCheck = w.cfg.Now().Add(w.cfg.PollInterval)
	go func(t check.Target, opts check.Options) {
		res := check.Run(w.ctx, []check.Target{t}, opts)
		w.altDone <- res.Servers[0]
	}(*w.alternate, w.cfg.Options)
}

// alternateChecked reports the alternate's verdict when it changed.
func (w *watcher) alternateChecked(r check.ServerResult) {
	w.altRunning = false
	if w.altLast == nil || w.altLast.ExitCode() != r.ExitCode() {
		w.altLast = &r
		w.emit(Event{Kind: KindAlternate, Code: w.code, Via: "check", Alternate: &r})
	}
	w.checkAlternate()
}

// waitAlternate waits for a check of the alternate, cancelled with the
// watch, so that a watch leaves no goroutine behind.
func (w *watcher) waitAlternate() {
	if w.altRunning {
		<-w.altDone
		w.altRunning = false
	}
}
