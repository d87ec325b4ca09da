package simulator

import (
	"net"
	"sync"
	"time"
)

// port is one TCP port of a node. Scenarios switch it between answering,
// refusing (the listener is closed, so the kernel sends RST) and silence
// (connections are accepted and parked). Servers read answered connections
// from a listener that outlives every switch, so they never see the churn.
type port struct {
	addr    string // host:port, fixed once first bound
	latency time.Duration
	out     *connQueue

	mu    sync.Mutex
	ln    net.Listener
	state portState
	held  []net.Conn
}

func newPort(addr string, latency time.Duration) (*port, error) {
	p := &port{addr: addr, latency: latency, out: newConnQueue()}
	if err := p.set(open); err != nil {
		return nil, err
	}
	return p, nil
}

// set moves the port to state; binding again reuses the original address.
func (p *port) set(state portState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if state != silent {
		closeAll(p.held)
		p.held = nil
	}
	if state == closed {
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		return nil
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.ln = ln
	// The address is written once, at the first bind, before any reader
	// exists: later binds reuse it, and readers take it without the lock.
	if _, port, _ := net.SplitHostPort(p.addr); port == "0" {
		p.addr = ln.Addr().String()
	}
	go p.accept(ln)
	return nil
}

func (p *port) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if p.latency > 0 {
			c = &slowConn{Conn: c, delay: p.latency}
		}
		p.mu.Lock()
		if p.state == silent {
			p.held = append(p.held, c)
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		if !p.out.push(c) {
			c.Close()
			return
		}
	}
}

// close shuts the port for good.
func (p *port) close() {
	_ = p.set(closed)
	p.out.Close()
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// connQueue is a net.Listener fed by port.accept.
type connQueue struct {
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.closeOnce.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "simulator" }

// slowConn delays every write, to model a WAN between checker and node.
type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c *slowConn) Write(b []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(b)
}
