package simulator

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/finessectl/finessectl/internal/netdelay"
)

// port is one TCP port of a node, on one or more addresses (node 0 also has
// it on [::1]). Scenarios switch it between answering, refusing (the
// listeners are closed, so the kernel sends RST) and silence (connections are
// accepted and parked), on every address at once. Servers read answered
// connections from a listener that outlives every switch, so they never see
// the churn.
type port struct {
	// addrs are host:port, fixed once first bound; the first is the node's
	// own address, which names the port everywhere else.
	addrs  []string
	oneWay time.Duration // netdelay's delay in each direction
	out    *connQueue

	mu    sync.Mutex
	lns   []net.Listener
	state portState
	held  []net.Conn
}

// freePortAttempts bounds the retries when a port number the kernel chose as
// free on the first address is taken on another.
const freePortAttempts = 5

func newPort(addrs []string, oneWay time.Duration) (*port, error) {
	p := &port{addrs: addrs, oneWay: oneWay, out: newConnQueue()}
	if err := p.set(open); err != nil {
		return nil, err
	}
	return p, nil
}

// addr is the node's own address of the port.
func (p *port) addr() string { return p.addrs[0] }

// set moves the port to state; binding again reuses the original addresses.
func (p *port) set(state portState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if state != silent {
		closeAll(p.held)
		p.held = nil
	}
	if state == closed {
		for _, ln := range p.lns {
			ln.Close()
		}
		p.lns = nil
		return nil
	}
	if p.lns != nil {
		return nil
	}
	lns, err := p.bind()
	if err != nil {
		return err
	}
	p.lns = lns
	for _, ln := range lns {
		go p.accept(ln)
	}
	return nil
}

// bind listens on every address, all or none. At the first bind of a port
// given as 0 the kernel's choice on the first address is written into every
// address, before any reader exists: later binds reuse them, and readers take
// them without the lock.
func (p *port) bind() ([]net.Listener, error) {
	_, num, _ := net.SplitHostPort(p.addrs[0])
	free := num == "0"
	for attempt := 1; ; attempt++ {
		lns, err := p.bindOnce(free)
		if err == nil || !free || !errors.Is(err, syscall.EADDRINUSE) || attempt == freePortAttempts {
			return lns, err
		}
	}
}

func (p *port) bindOnce(free bool) ([]net.Listener, error) {
	addrs := p.addrs
	var lns []net.Listener
	for i := range addrs {
		ln, err := net.Listen("tcp", addrs[i])
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
		if i == 0 && free {
			num := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			addrs = make([]string, len(p.addrs))
			for j, other := range p.addrs {
				host, _, _ := net.SplitHostPort(other)
				addrs[j] = net.JoinHostPort(host, num)
			}
		}
	}
	if free {
		// Only the first bind writes: later ones (a scenario reopening the
		// port) race with readers, which take the addresses without the lock.
		p.addrs = addrs
	}
	return lns, nil
}

func (p *port) accept(ln net.Listener) {
	// Under the servers' TLS, so that handshakes cross the delay too.
	ln = netdelay.Listener(ln, p.oneWay)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
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
