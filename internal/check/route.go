package check

import (
	"fmt"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Transport is how a check reaches the Notification Service.
type Transport string

const (
	// TransportAuto tries what desktops use, newest first: WebSocket on the
	// HTTPS port SystemInfo answered on (12.6 and later, through the web
	// proxy), WebSocket on 7443 (12.0–12.5), then direct TLS on 5223. It
	// moves on only when a transport is plainly not there (connection
	// refused, HTTP 404), never after a timeout.
	TransportAuto      Transport = "auto"
	TransportTCP       Transport = "tcp"
	TransportWebSocket Transport = "websocket"
)

// Transports lists the choices, for flags and their validation.
var Transports = []Transport{TransportAuto, TransportTCP, TransportWebSocket}

// Route says how the Notification Service was reached, and why that way.
type Route struct {
	Why     string
	Skipped []SkippedRoute // under auto, the transports found absent before it
}

// SkippedRoute is a transport auto passed over, and what showed it absent.
type SkippedRoute struct {
	Where string // a wss:// URL or host:port
	Err   error
}

// route is one way to try.
type route struct {
	transport xmppprobe.Transport
	mode      xmppprobe.TLSMode
	port      int
	why       string
}

// xmppRoutes are the ways to reach t's Notification Service, in the order to
// try them.
func xmppRoutes(t Target, o Options) []route {
	switch o.XMPPTransport {
	case TransportTCP:
		port := o.XMPPPort
		if port == 0 {
			port = o.XMPPMode.DefaultPort()
		}
		return []route{{xmppprobe.TCP, o.XMPPMode, port, "XMPP over TCP, " + o.XMPPMode.Label() + ", as asked"}}
	case TransportWebSocket:
		port := o.XMPPPort
		if port == 0 {
			port = t.HTTPSPort
		}
		return []route{{xmppprobe.WebSocket, xmppprobe.DirectTLS, port, "XMPP over WebSocket, as asked"}}
	}
	routes := []route{{xmppprobe.WebSocket, xmppprobe.DirectTLS, t.HTTPSPort,
		"auto: WebSocket on the HTTPS port, as desktops of Finesse 12.6 and later connect"}}
	if boshPort := o.boshPort(); t.HTTPSPort != boshPort {
		routes = append(routes, route{xmppprobe.WebSocket, xmppprobe.DirectTLS, boshPort,
			fmt.Sprintf("auto: WebSocket on %d, as desktops of Finesse 12.0 to 12.5 connect", boshPort)})
	}
	port := o.XMPPPort
	if port == 0 {
		port = finesse.XMPPSecurePort
	}
	return append(routes, route{xmppprobe.TCP, xmppprobe.DirectTLS, port,
		fmt.Sprintf("auto: no WebSocket endpoint; direct TLS on %d", port)})
}

// boshPort is where the Notification Service's own HTTP endpoints are.
func (o Options) boshPort() int {
	if o.BOSHPort != 0 {
		return o.BOSHPort
	}
	return finesse.BOSHPort
}
