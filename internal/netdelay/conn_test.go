package netdelay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// noLeak fails the test unless the goroutine count comes back to what it is
// now. The wait is generous: only a goroutine that never ends fails it.
func noLeak(t *testing.T) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func readFull(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNoDelayReturnsTheConnUnchanged(t *testing.T) {
	a, _ := net.Pipe()
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, d := range []time.Duration{0, -time.Second} {
		if Conn(a, d) != a || Listener(ln, d) != ln {
			t.Errorf("delay %v wrapped the connection or listener", d)
		}
	}
}

// Big transfers both ways at once, in writes of random sizes from several
// writers and reads of random sizes, arrive byte for byte and in order, past
// the 4 MiB cap of each direction.
func TestIntegrityBothWaysAtOnce(t *testing.T) {
	defer noLeak(t)()
	client, server := tcpPair(t)
	// Delays long enough for each line to fill to its cap.
	a, b := Conn(client, 50*time.Millisecond), Conn(server, 70*time.Millisecond)
	const size = 6 << 20
	var wg sync.WaitGroup
	for _, dir := range []struct {
		name     string
		from, to net.Conn
	}{{"a to b", a, b}, {"b to a", b, a}} {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		wg.Go(func() {
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+mrand.IntN(200<<10))
				if _, err := dir.from.Write(rest[:n]); err != nil {
					t.Errorf("%s: write: %v", dir.name, err)
					return
				}
				rest = rest[n:]
			}
		})
		wg.Go(func() {
			got := make([]byte, 0, size)
			buf := make([]byte, 100<<10)
			for len(got) < size {
				n, err := dir.to.Read(buf[:1+mrand.IntN(len(buf))])
				got = append(got, buf[:n]...)
				if err != nil {
					t.Errorf("%s: read after %d bytes: %v", dir.name, len(got), err)
					return
				}
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s: %d bytes arrived, not the %d sent", dir.name, len(got), len(data))
			}
		})
	}
	wg.Wait()
	a.Close()
	b.Close()
}

// A round trip crosses the delay twice on each wrapped end.
func TestRoundTripTakesTheDelay(t *testing.T) {
	const oneWay = 50 * time.Millisecond
	for _, tc := range []struct {
		name                 string
		clientSide, echoSide time.Duration
		want                 time.Duration
	}{
		{"echo side wrapped", 0, oneWay, 2 * oneWay},
		{"both ends wrapped", oneWay, oneWay, 4 * oneWay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			c, s := Conn(client, tc.clientSide), Conn(server, tc.echoSide)
			defer c.Close()
			defer s.Close()
			go func() { _, _ = io.Copy(s, s) }()
			start := time.Now()
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if got := readFull(t, c, 4); string(got) != "ping" {
				t.Fatalf("echo %q", got)
			}
			if took := time.Since(start); took < tc.want {
				t.Errorf("round trip took %v, want at least %v", took, tc.want)
			}
		})
	}
}

// Writes queue: ten back-to-back writes all arrive about one delay after
// they were made, not one delay after another.
func TestBackToBackWritesArriveTogether(t *testing.T) {
	const oneWay, n = 100 * time.Millisecond, 10
	client, server := tcpPair(t)
	a := Conn(client, oneWay)
	defer a.Close()
	start := time.Now()
	for i := range n {
		if _, err := a.Write([]byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFull(t, server, n); string(got) != "0123456789" {
		t.Fatalf("received %q", got)
	}
	took := time.Since(start)
	if took < oneWay || took >= 2*oneWay {
		t.Errorf("%d writes took %v to arrive with %v one way; want at least %v and under %v", n, took, oneWay, oneWay, 2*oneWay)
	}
}

// A read deadline fires while the bytes are still on their way, leaves
// them there, and a cleared deadline gets them.
func TestReadDeadlineWhileDataInTheDelayLine(t *testing.T) {
	const oneWay = 300 * time.Millisecond
	client, server := tcpPair(t)
	a := Conn(client, oneWay)
	defer a.Close()
	sent := time.Now()
	if _, err := server.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := a.Read(make([]byte, 5))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a deadline before the data is due: %d bytes, %v; want a timeout", n, err)
	}
	_ = a.SetReadDeadline(time.Time{})
	if got := readFull(t, a, 5); string(got) != "hello" {
		t.Fatalf("after the timeout: %q", got)
	}
	if took := time.Since(sent); took < oneWay {
		t.Errorf("data readable after %v, before the %v delay", took, oneWay)
	}
}

// A deadline moved into the past ends a Read already waiting, as
// xmppprobe and crypto/tls use it to cut a connection short.
func TestDeadlineEndsAWaitingRead(t *testing.T) {
	client, _ := tcpPair(t)
	a := Conn(client, time.Second)
	defer a.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read start waiting; the test holds either way
	_ = a.SetDeadline(time.Unix(1, 0))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
}

// Write blocks once the line holds its cap, here because the peer does not
// read, and its deadline then ends it with what it queued.
func TestWriteBlocksAtTheCap(t *testing.T) {
	p, peer := net.Pipe()
	defer peer.Close()
	a := Conn(p, time.Millisecond)
	defer a.Close()
	_ = a.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := a.Write(make([]byte, 6<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n < maxQueued || n > maxQueued+maxChunk {
		t.Fatalf("write to a peer that does not read: %d bytes, %v; want %d to %d bytes and a deadline error", n, err, maxQueued, maxQueued+maxChunk)
	}
}

// What arrives is no longer read once the inbound line holds its cap, so
// the peer's writes block as on a full TCP window.
func TestReceiveStopsAtTheCap(t *testing.T) {
	client, server := tcpPair(t)
	a := newConn(client, time.Minute)
	defer a.Close()
	_ = server.SetWriteDeadline(time.Now().Add(time.Second))
	const size = 64 << 20
	if n, err := server.Write(make([]byte, size)); !errors.Is(err, os.ErrDeadlineExceeded) || n == size {
		t.Fatalf("peer wrote %d of %d bytes, %v; want its write to block", n, size, err)
	}
	a.in.mu.Lock()
	queued := a.in.queued
	a.in.mu.Unlock()
	if queued > maxQueued+readBufSize {
		t.Errorf("the inbound line holds %d bytes, past its cap of %d", queued, maxQueued)
	}
}

var errBoom = errors.New("boom")

// failConn fails every write after taking its first byte.
type failConn struct{ net.Conn }

func (c failConn) Write(p []byte) (int, error) { return min(len(p), 1), errBoom }

// A failed (short) write of the wrapped connection is reported once, by the
// next Write, or else by Close.
func TestWriteErrorReportedLater(t *testing.T) {
	for _, by := range []string{"Write", "Close"} {
		t.Run(by, func(t *testing.T) {
			p, peer := net.Pipe()
			defer peer.Close()
			a := newConn(failConn{p}, time.Millisecond)
			if n, err := a.Write([]byte("abc")); n != 3 || err != nil {
				t.Fatalf("first write: %d, %v; want it queued", n, err)
			}
			for deadline := time.Now().Add(5 * time.Second); a.writeErr() == nil; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the queued write was never made")
				}
			}
			if by == "Write" {
				if _, err := a.Write([]byte("d")); !errors.Is(err, errBoom) {
					t.Errorf("write after the failure: %v, want it", err)
				}
				if err := a.Close(); err != nil {
					t.Errorf("close after the write reported the failure: %v", err)
				}
				return
			}
			if err := a.Close(); !errors.Is(err, errBoom) {
				t.Errorf("close: %v, want the write failure", err)
			}
		})
	}
}

// Close is close(2) behind netem: what was written still arrives, after the
// delay, then the end of the stream; the conn itself is done at once.
func TestCloseDeliversWhatWasWritten(t *testing.T) {
	defer noLeak(t)()
	const oneWay = 100 * time.Millisecond
	client, server := tcpPair(t)
	a := Conn(client, oneWay)
	start := time.Now()
	if _, err := a.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	got, err := io.ReadAll(server)
	if string(got) != "bye" || err != nil {
		t.Fatalf("peer read %q, %v; want what was written, then EOF", got, err)
	}
	if took := time.Since(start); took < oneWay {
		t.Errorf("end of stream after %v, before the %v delay", took, oneWay)
	}
	server.Close()
}

// The peer's half-close reaches Read after the delay and after the bytes
// before it, and CloseWrite passes one on the same way.
func TestHalfCloseCrossesTheDelay(t *testing.T) {
	const oneWay = 100 * time.Millisecond
	client, server := tcpPair(t)
	a := Conn(client, oneWay)
	defer a.Close()
	start := time.Now()
	if _, err := server.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	_ = server.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(a)
	if string(got) != "last" || err != nil {
		t.Fatalf("read %q, %v; want the bytes, then EOF", got, err)
	}
	if took := time.Since(start); took < oneWay {
		t.Errorf("EOF after %v, before the %v delay", took, oneWay)
	}
	// The other direction still works after the peer's half-close.
	start = time.Now()
	if _, err := a.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if err := a.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("write after CloseWrite succeeded")
	}
	got, err = io.ReadAll(server)
	if string(got) != "reply" || err != nil {
		t.Fatalf("peer read %q, %v; want the reply, then EOF", got, err)
	}
	if took := time.Since(start); took < oneWay {
		t.Errorf("reply and EOF after %v, before the %v delay", took, oneWay)
	}
}

// Every goroutine of a wrapped connection ends once both ends are closed,
// however much was still on its way.
func TestGoroutinesEndAfterClose(t *testing.T) {
	defer noLeak(t)()
	var conns []net.Conn
	for range 5 {
		client, server := tcpPair(t)
		a, b := Conn(client, 20*time.Millisecond), Conn(server, 20*time.Millisecond)
		if _, err := a.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		readFull(t, b, 1000)
		conns = append(conns, a, b)
	}
	for _, c := range conns {
		c.Close()
	}
}
