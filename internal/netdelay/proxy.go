package netdelay

import (
	"io"
	"net"
	"sync"
	"time"
)

// Listener wraps every accepted connection with Conn. Unlike Proxy it does
// not charge the TCP handshake: that would move its round trip into the
// client's first read, and a client that gives each read a short window
// (check_xmppng waits 0.1 s) fails where over a real link it would not.
// With oneWay <= 0 it returns l unchanged.
func Listener(l net.Listener, oneWay time.Duration) net.Listener {
	if oneWay <= 0 {
		return l
	}
	return &listener{Listener: l, oneWay: oneWay}
}

type listener struct {
	net.Listener
	oneWay time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.oneWay), nil
}

// dialTimeout bounds the proxy's connection to its upstream, which is on
// this machine.
const dialTimeout = 5 * time.Second

// Proxy forwards each TCP connection accepted on 127.0.0.1:0 to upstream,
// adding rtt/2 in each direction (rtt total per round trip), for putting a
// real server (e.g. Prosody) behind a WAN-like link in tests and benchmarks.
// A connection upstream refuses is accepted and closed: the client sees its
// end of stream, not a refusal.
type Proxy struct {
	ln       net.Listener
	upstream string
	oneWay   time.Duration

	mu     sync.Mutex
	closed bool
	links  map[*conn]net.Conn // client side -> upstream side
	wg     sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 and forwards to upstream (host:port).
func NewProxy(upstream string, rtt time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, oneWay: rtt / 2, links: make(map[*conn]net.Conn)}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the host:port to dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops listening and cuts every forwarded connection: bytes on their
// way are lost, as when a link goes down. It returns when the proxy's own
// goroutines have ended; a connection that ended before may still be
// delivering its last bytes, for at most its delay.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for client, up := range p.links {
		client.cut()
		_ = up.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		// The client's side carries the delay both ways, so the proxy's
		// own side may be plain; a zero rtt still goes through it, so that a
		// benchmark's baseline pays the same copying.
		client := accepted(c, p.oneWay)
		p.wg.Go(func() { p.forward(client) })
	}
}

func (p *Proxy) forward(client *conn) {
	up, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, up) {
		client.cut()
		_ = up.Close()
		return
	}
	var halves sync.WaitGroup
	halves.Go(func() { pipe(up, client) })
	halves.Go(func() { pipe(client, up) })
	halves.Wait()
	p.mu.Lock()
	delete(p.links, client)
	p.mu.Unlock()
	_ = client.Close()
	_ = up.Close()
}

// track records a link, unless the proxy is closed.
func (p *Proxy) track(client *conn, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.links[client] = up
	return true
}

// pipe copies one direction and passes its end on as a half-close, so that
// a client that shuts its sending side still gets the answer. A failure
// ends both directions, as a reset does.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		err = closeWrite(dst)
	}
	if err != nil {
		_ = dst.Close()
		_ = src.Close()
	}
}
