package nettest

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// DNS runs a DNS server on 127.0.0.1 that knows only hosts (by lower-case
// name) and answers NXDOMAIN for everything else, and returns a resolver
// that asks it and nothing else: tests never query real DNS.
func DNS(t testing.TB, hosts map[string]net.IP) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer := dnsAnswer(buf[:n], hosts); answer != nil {
				_, _ = pc.WriteTo(answer, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		},
	}
}

// dnsAnswer builds the reply to one query (RFC 1035, 4.1): the query's ID
// and question, with an A record for a known name asked for its IPv4
// address, no record for another type, and NXDOMAIN for an unknown name.
// It returns nil for anything it cannot parse.
func dnsAnswer(query []byte, hosts map[string]net.IP) []byte {
	const headerLen = 12
	if len(query) < headerLen {
		return nil
	}
	var labels []string
	i := headerLen
	for i < len(query) && query[i] != 0 {
		n := int(query[i])
		if n > 63 || i+1+n > len(query) {
			return nil
		}
		labels = append(labels, string(query[i+1:i+1+n]))
		i += 1 + n
	}
	end := i + 1 + 4 // the root label, QTYPE and QCLASS
	if end > len(query) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(query[i+1:])
	ip, known := hosts[strings.ToLower(strings.Join(labels, "."))]
	ip4 := ip.To4()

	var rcode, ancount byte
	switch {
	case !known:
		rcode = 3 // NXDOMAIN
	case qtype == 1 && ip4 != nil: // A
		ancount = 1
	}
	answer := []byte{
		query[0], query[1], // ID
		0x80 | query[2]&0x01 | 0x04,  // QR, RD as asked, AA
		0x80 | rcode,                 // RA, RCODE
		0, 1, 0, ancount, 0, 0, 0, 0, // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
	}
	answer = append(answer, query[headerLen:end]...)
	if ancount == 1 {
		answer = append(answer,
			0xc0, headerLen, // the name: a pointer to the question's
			0, 1, 0, 1, // TYPE A, CLASS IN
			0, 0, 0, 60, // TTL
			0, 4) // RDLENGTH
		answer = append(answer, ip4...)
	}
	return answer
}
