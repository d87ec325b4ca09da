package netdelay

import (
	"errors"
	"sync"
	"time"
)

// maxQueued caps the bytes a delay line holds. A real link holds
// bandwidth × delay in flight (a 100 Mbit/s link at 300 ms one way holds
// under 4 MiB); past the cap the producer waits, as a sender does when the
// peer's TCP window is full.
const maxQueued = 4 << 20

var (
	errTimeout = errors.New("deadline")
	errStopped = errors.New("stopped")
)

// chunk is what one write (or one read of the wrapped connection) put on the
// line, to be taken off no earlier than due.
type chunk struct {
	b   []byte
	due time.Time
	err error // inbound: what the wrapped connection's Read returned after b
	fin bool  // outbound: CloseWrite the wrapped connection here
	eof bool  // outbound: close the wrapped connection here
}

// line is one direction's delay line: a FIFO of chunks, each released at its
// due time. It has one producer and one consumer at a time, so each of its
// two signals has at most one waiter.
type line struct {
	mu     sync.Mutex
	q      []chunk
	queued int
	added  chan struct{} // a chunk was added
	freed  chan struct{} // bytes were taken or dropped
}

func newLine() *line {
	return &line{added: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
}

// notify wakes the waiter on ch, if any, or the next one to wait.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// room waits until the line holds less than maxQueued and returns how much
// more it takes.
func (l *line) room(deadline, stop <-chan struct{}) (int, error) {
	for {
		l.mu.Lock()
		free := maxQueued - l.queued
		l.mu.Unlock()
		if free > 0 {
			return free, nil
		}
		select {
		case <-l.freed:
		case <-deadline:
			return 0, errTimeout
		case <-stop:
			return 0, errStopped
		}
	}
}

// add queues c whatever the line holds: callers asked room first, and
// markers carry no bytes.
func (l *line) add(c chunk) {
	l.mu.Lock()
	l.q = append(l.q, c)
	l.queued += len(c.b)
	l.mu.Unlock()
	notify(l.added)
}

// next waits until the oldest chunk is due and takes it off the line.
func (l *line) next(deadline, stop <-chan struct{}) (chunk, error) {
	var due *time.Timer
	defer func() {
		if due != nil {
			due.Stop()
		}
	}()
	for {
		var wake <-chan time.Time
		l.mu.Lock()
		if len(l.q) > 0 {
			wait := time.Until(l.q[0].due)
			if wait <= 0 {
				c := l.q[0]
				l.q[0] = chunk{}
				l.q = l.q[1:]
				l.queued -= len(c.b)
				l.mu.Unlock()
				notify(l.freed)
				return c, nil
			}
			if due == nil {
				due = time.NewTimer(wait)
			} else {
				due.Reset(wait)
			}
			wake = due.C
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-wake:
		case <-deadline:
			return chunk{}, errTimeout
		case <-stop:
			return chunk{}, errStopped
		}
	}
}

// drop empties the line.
func (l *line) drop() {
	l.mu.Lock()
	l.q, l.queued = nil, 0
	l.mu.Unlock()
	notify(l.freed)
}

// deadline is a settable point in time whose channel closes when it passes;
// net.Pipe's pipeDeadline is the model.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its function has closed cancel
	}
	d.timer = nil
	passed := isClosed(d.cancel)
	if t.IsZero() {
		if passed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if wait := time.Until(t); wait > 0 {
		if passed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(wait, func() { close(cancel) })
		return
	}
	if !passed {
		close(d.cancel)
	}
}

// wait returns a channel that is closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
