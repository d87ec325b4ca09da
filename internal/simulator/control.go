package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
)

type nodeStatus struct {
	Node          int    `json:"node"`
	Host          string `json:"host"`
	Scenario      string `json:"scenario"`
	HTTPSAddr     string `json:"https"`
	DirectTLSAddr string `json:"xmpp_direct_tls"`
	StartTLSAddr  string `json:"xmpp_starttls"`
	XMPPSessions  int    `json:"xmpp_sessions"`
}

// ControlHandler serves the control API: GET /scenario lists the nodes and
// their scenarios; POST /scenario?name=NAME[&node=N] switches one node or all.
func ControlHandler(c *Cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /scenario", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, c)
	})
	mux.HandleFunc("POST /scenario", func(w http.ResponseWriter, r *http.Request) {
		node := -1
		if s := r.URL.Query().Get("node"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				http.Error(w, "node must be a node number", http.StatusBadRequest)
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
	})
	return mux
}

func writeStatus(w http.ResponseWriter, c *Cluster) {
	out := make([]nodeStatus, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = nodeStatus{Node: i, Host: n.Host, Scenario: string(n.Scenario()),
			HTTPSAddr: n.HTTPSAddr(), DirectTLSAddr: n.DirectTLSAddr(), StartTLSAddr: n.StartTLSAddr(),
			XMPPSessions: n.xmpp.Sessions()}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"nodes": out})
}
