// Package netdelay adds a WAN's latency to connections on one machine, the
// way netem's delay does to a network interface: every byte, and the end of
// the stream, is delivered a fixed time after it was sent, in each direction
// on its own, and a connection carries as many bytes in flight as it is
// given. Sending does not wait for earlier bytes to arrive, so a burst of
// writes takes one delay, not one per write.
//
// Wrap the TCP connection, under any TLS, so that every TLS record, the
// handshake's included, crosses the delay line. The kernel completes the
// TCP handshake before Accept returns, so a connection's first bytes leave
// the client at once instead of a round trip later; Proxy makes up for it by
// holding the bytes a connection receives until the handshake would have let
// them arrive (see accepted), Listener does not.
package netdelay

import (
	"bytes"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// readBufSize is how much one read of the wrapped connection takes: a TLS
// record, the unit a TLS peer sends, is at most 16 KiB plus its header.
const readBufSize = 16<<10 + 512

// maxChunk splits big writes on the line, so that the chunk being written
// to c, which has left the line, adds little to what the line holds.
const maxChunk = 64 << 10

// flushTimeout bounds how long bytes written before Close may take to leave
// once due, so that a peer that stopped reading cannot hold the
// connection's goroutines: a kernel gives up on such a socket too.
const flushTimeout = 5 * time.Second

// Conn delays every byte c carries by oneWay in each direction: bytes
// written are delivered to c oneWay later; bytes c receives become readable
// oneWay after they arrived. Write never blocks on the delay (it queues), so
// back-to-back writes each arrive oneWay later, not n*oneWay later. Once 4 MiB
// wait in one direction, Write blocks (until its deadline) or c is no longer
// read, until the line drains, as a full TCP window makes a sender wait.
//
// Deadlines, Close, LocalAddr and RemoteAddr behave as on c; a read deadline
// works while data waits in the delay line. Close is close(2) on a socket
// behind netem: it returns at once, Read and Write fail from then on, and
// what was written before it is still delivered at its time, followed by
// the end of the stream oneWay after Close. The end of the peer's stream
// (EOF, or a reset) reaches Read oneWay after it arrived, after the bytes
// before it. A failed write to c is reported by a later Write, or by Close.
// The returned conn has CloseWrite, which half-closes c at its time when c
// can.
//
// With oneWay <= 0 Conn returns c unchanged.
func Conn(c net.Conn, oneWay time.Duration) net.Conn {
	if oneWay <= 0 {
		return c
	}
	return newConn(c, oneWay)
}

type conn struct {
	net.Conn // the wrapped connection: addresses come from it
	oneWay   time.Duration
	// notBefore is the earliest a received byte is readable: for an
	// accepted connection, when the client's first bytes would arrive
	// after the TCP handshake.
	notBefore time.Time
	in, out   *line
	rdl, wdl  *deadline

	readMu  sync.Mutex
	pending []byte // read from the line, not yet returned by Read; guarded by readMu
	rerr    error  // what c's Read ended with, once pending is returned; guarded by readMu

	writeMu sync.Mutex // keeps each Write's bytes together on the line

	mu        sync.Mutex
	werr      error // c's first failed write
	reported  bool  // a Write returned werr
	writeDone bool  // CloseWrite was called

	closed    chan struct{} // Close was called
	killed    chan struct{} // pending bytes dropped and c closed
	closeOnce sync.Once
	killOnce  sync.Once
}

func newConn(c net.Conn, oneWay time.Duration) *conn {
	return start(&conn{Conn: c, oneWay: oneWay})
}

// accepted is newConn for the server's end of a connection just accepted.
// Over a link, the client's SYN takes oneWay to arrive, the SYN-ACK oneWay
// to return, and only then do the client's first bytes leave, oneWay from
// the server: nothing it sends is readable before three delays from now.
func accepted(c net.Conn, oneWay time.Duration) *conn {
	return start(&conn{Conn: c, oneWay: oneWay, notBefore: time.Now().Add(3 * oneWay)})
}

func start(d *conn) *conn {
	d.in, d.out, d.rdl, d.wdl = newLine(), newLine(), newDeadline(), newDeadline()
	d.closed, d.killed = make(chan struct{}), make(chan struct{})
	go d.receive()
	go d.send()
	return d
}

// receive puts what c receives on the inbound line until c fails or ends,
// or the conn is closed.
func (d *conn) receive() {
	buf := make([]byte, readBufSize)
	for {
		if _, err := d.in.room(nil, d.closed); err != nil {
			return
		}
		n, err := d.Conn.Read(buf)
		due := time.Now().Add(d.oneWay)
		if due.Before(d.notBefore) {
			due = d.notBefore
		}
		c := chunk{due: due, err: err}
		if n > 0 {
			c.b = bytes.Clone(buf[:n])
		}
		d.in.add(c)
		if err != nil {
			return
		}
	}
}

// send writes the outbound line to c, each chunk at its time, until the
// line's end after Close, or the conn is killed.
func (d *conn) send() {
	for {
		c, err := d.out.next(nil, d.killed)
		if err != nil {
			return
		}
		switch {
		case c.eof:
			_ = d.Conn.Close()
			return
		case d.writeErr() != nil:
			// The connection is broken: what follows is dropped.
		case c.fin:
			d.fail(closeWrite(d.Conn))
		default:
			_, err := d.Conn.Write(c.b)
			d.fail(err)
		}
	}
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (d *conn) fail(err error) {
	if err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.werr == nil {
		d.werr = err
	}
}

func (d *conn) writeErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.werr
}

func (d *conn) Read(p []byte) (int, error) {
	d.readMu.Lock()
	defer d.readMu.Unlock()
	switch {
	case isClosed(d.closed):
		return 0, d.opError("read", net.ErrClosed)
	case isClosed(d.rdl.wait()):
		return 0, d.opError("read", os.ErrDeadlineExceeded)
	}
	for len(d.pending) == 0 {
		if d.rerr != nil {
			return 0, d.rerr
		}
		c, err := d.in.next(d.rdl.wait(), d.closed)
		if err != nil {
			return 0, d.lineError("read", err)
		}
		d.pending, d.rerr = c.b, c.err
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

func (d *conn) Write(p []byte) (int, error) {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	n := 0
	for {
		if err := d.writable(); err != nil {
			return n, err
		}
		if n == len(p) {
			return n, nil
		}
		free, err := d.out.room(d.wdl.wait(), d.closed)
		if err != nil {
			return n, d.lineError("write", err)
		}
		k := min(free, len(p)-n, maxChunk)
		d.out.add(chunk{b: bytes.Clone(p[n : n+k]), due: time.Now().Add(d.oneWay)})
		n += k
	}
}

// writable says why a write cannot be queued now, if it cannot.
func (d *conn) writable() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case isClosed(d.closed):
		return d.opError("write", net.ErrClosed)
	case d.werr != nil:
		d.reported = true
		return d.werr
	case d.writeDone:
		return d.opError("write", syscall.EPIPE)
	case isClosed(d.wdl.wait()):
		return d.opError("write", os.ErrDeadlineExceeded)
	}
	return nil
}

// CloseWrite half-closes c after what was written before it.
func (d *conn) CloseWrite() error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	d.mu.Lock()
	d.writeDone = true
	d.mu.Unlock()
	d.out.add(chunk{due: time.Now().Add(d.oneWay), fin: true})
	return nil
}

func (d *conn) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		close(d.closed)
		d.in.drop()
		end := time.Now().Add(d.oneWay)
		_ = d.Conn.SetWriteDeadline(end.Add(flushTimeout))
		d.out.add(chunk{due: end, eof: true})
	})
	if !first {
		return d.opError("close", net.ErrClosed)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.werr != nil && !d.reported {
		d.reported = true
		return d.werr
	}
	return nil
}

// cut is the link going down: what waits in either direction is lost and c
// closes at once.
func (d *conn) cut() {
	_ = d.Close()
	d.killOnce.Do(func() {
		close(d.killed)
		d.out.drop()
		_ = d.Conn.Close()
	})
}

func (d *conn) SetDeadline(t time.Time) error {
	if err := d.SetReadDeadline(t); err != nil {
		return err
	}
	return d.SetWriteDeadline(t)
}

func (d *conn) SetReadDeadline(t time.Time) error {
	if isClosed(d.closed) {
		return d.opError("set", net.ErrClosed)
	}
	d.rdl.set(t)
	return nil
}

func (d *conn) SetWriteDeadline(t time.Time) error {
	if isClosed(d.closed) {
		return d.opError("set", net.ErrClosed)
	}
	d.wdl.set(t)
	return nil
}

func (d *conn) lineError(op string, err error) error {
	if err == errTimeout {
		return d.opError(op, os.ErrDeadlineExceeded)
	}
	return d.opError(op, net.ErrClosed)
}

// opError has the form net's own connections give errors, which callers
// such as crypto/tls and net/http inspect.
func (d *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: d.LocalAddr().Network(), Source: d.LocalAddr(), Addr: d.RemoteAddr(), Err: err}
}
