package simulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

type nodeStatus struct {
	Node          int    `json:"node"`
	Host          string `json:"host"`
	Scenario      string `json:"scenario"`
	HTTPSAddr     string `json:"https"`
	DirectTLSAddr string `json:"xmpp_direct_tls"`
	StartTLSAddr  string `json:"xmpp_starttls"`
	BOSHAddr      string `json:"bosh"` // WebSocket and BOSH over HTTPS
	XMPPSessions  int    `json:"xmpp_sessions"`
}

// ControlHandler serves the control API: GET /scenario lists the nodes and
// their scenarios; POST /scenario?name=NAME[&node=N] switches one node or all.
//
// Loopback alone does not protect it: any web page open in the operator's
// browser can send a simple POST to 127.0.0.1 without a CORS preflight. So
// every request must present the returned token, made afresh for each
// handler, as ?token=TOKEN or "Authorization: Bearer TOKEN", and requests
// carrying an Origin header, which browsers add and curl and scripts do not,
// are refused outright.
func ControlHandler(c *Cluster) (h http.Handler, token string) {
	token = rand.Text()
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["Origin"]; ok {
			http.Error(w, "forbidden: requests from web pages (with an Origin header) are refused", http.StatusForbidden)
			return
		}
		if !presents(r, token) {
			http.Error(w, "forbidden: missing or wrong token; use the control API URL finessectl simulate printed", http.StatusForbidden)
			return
		}
		if r.URL.Path != "/scenario" {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeStatus(w, c)
		case http.MethodPost:
			setScenario(w, r, c)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed: GET or POST", http.StatusMethodNotAllowed)
		}
	})
	return h, token
}

// presents reports whether r carries token in its query or as a bearer
// token. The comparison takes the same time wherever the first wrong byte is,
// so response timing does not reveal the token a byte at a time.
func presents(r *http.Request, token string) bool {
	match := func(s string) bool { return subtle.ConstantTimeCompare([]byte(s), []byte(token)) == 1 }
	if match(r.URL.Query().Get("token")) {
		return true
	}
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer") && match(strings.TrimSpace(bearer))
}

func setScenario(w http.ResponseWriter, r *http.Request, c *Cluster) {
	node := -1
	if s := r.URL.Query().Get("node"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, "node must be a node number; leave it out to switch every node", http.StatusBadRequest)
			return
		}
		node = n
	}
	b, err := Lookup(r.URL.Query().Get("name"))
	if err == nil {
		err = c.SetScenario(node, b.Scenario)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeStatus(w, c)
}

func writeStatus(w http.ResponseWriter, c *Cluster) {
	out := make([]nodeStatus, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = nodeStatus{Node: i, Host: n.Host, Scenario: string(n.Scenario()),
			HTTPSAddr: n.HTTPSAddr(), DirectTLSAddr: n.DirectTLSAddr(), StartTLSAddr: n.StartTLSAddr(), BOSHAddr: n.BOSHAddr(),
			XMPPSessions: n.xmpp.Sessions()}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"nodes": out})
}
