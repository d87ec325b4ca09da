// Package systeminfo fetches and parses Finesse's SystemInfo object, the
// first of the guide's availability criteria: "The status of the server must
// be IN_SERVICE".
//
// The parser accepts every known schema (12.5(1), 12.6(x)/15.0 and the
// minimal documentation sample): every element is optional, unknown elements
// are ignored and element names are matched without regard to case, because
// Cisco's own documents disagree (currentTimestamp and currentTimeStamp,
// SystemInfo and systemInfo).
package systeminfo

import (
	"encoding/xml"

	"github.com/finessectl/finessectl/internal/finesse"
)

// DefaultMaxBodyBytes caps the body Fetch reads. A real SystemInfo is about
// 2 KiB; anything near this size is not one.
const DefaultMaxBodyBytes = 1 << 20

// Node is a Finesse server of the cluster as SystemInfo lists it. Behind the
// 12.6 VPN-less reverse proxy Host is what clients should dial, not
// necessarily the server's own name. 12.5(1) sends only Host.
type Node struct {
	Host           string `json:"host"`
	HTTPSPort      string `json:"https_port,omitempty"`
	XMPPPort       string `json:"xmpp_port,omitempty"`
	XMPPSecurePort string `json:"xmpp_secure_port,omitempty"`
}

// CTIServer is one entry of <ctiServers> (12.6(1) and later).
type CTIServer struct {
	Host              string `json:"host"`
	ConnectedDuration string `json:"connected_duration"`
	Active            string `json:"active"`
}

// Info is a parsed SystemInfo. Every field is optional and holds the server's
// text with surrounding whitespace trimmed; nothing is converted, so that a
// value this package does not understand still reaches the user intact. The
// strings are not sanitized: whoever prints them passes them through
// textsafe.Line.
type Info struct {
	Status                      string      `json:"status,omitempty"`
	StatusReason                string      `json:"status_reason,omitempty"`
	DeploymentType              string      `json:"deployment_type,omitempty"`
	XMPPDomain                  string      `json:"xmpp_domain,omitempty"`
	XMPPPubSubDomain            string      `json:"xmpp_pubsub_domain,omitempty"`
	LastCTIHeartbeatStatus      string      `json:"last_cti_heartbeat_status,omitempty"`
	LastSuccessCTIHeartbeatTime string      `json:"last_success_cti_heartbeat_time,omitempty"`
	CTIVersion                  string      `json:"cti_version,omitempty"`
	CTIHeartbeatInterval        string      `json:"cti_heartbeat_interval,omitempty"`
	CurrentTimestamp            string      `json:"current_timestamp,omitempty"`
	SystemAuthMode              string      `json:"system_auth_mode,omitempty"`
	TimezoneOffset              string      `json:"timezone_offset,omitempty"`
	PeripheralID                string      `json:"peripheral_id,omitempty"`
	License                     string      `json:"license,omitempty"`
	URI                         string      `json:"uri,omitempty"`
	CTIMMode                    string      `json:"cti_mmode,omitempty"`
	CTITimeInMMode              string      `json:"cti_time_in_mmode,omitempty"`
	FinesseMMode                string      `json:"finesse_mmode,omitempty"`
	FinesseTimeInMMode          string      `json:"finesse_time_in_mmode,omitempty"`
	PrimaryNode                 *Node       `json:"primary_node,omitempty"`
	SecondaryNode               *Node       `json:"secondary_node,omitempty"`
	CTIServers                  []CTIServer `json:"cti_servers,omitempty"`
}

// InService reports whether the status is exactly IN_SERVICE, the only value
// the guide counts as available.
func (i *Info) InService() bool {
	return i != nil && i.Status == finesse.StatusInService
}

// field maps a lower-cased element name to the string it fills.
func (i *Info) field(name string) *string {
	switch name {
	case "status":
		return &i.Status
	case "statusreason":
		return &i.StatusReason
	case "deploymenttype":
		return &i.DeploymentType
	case "xmppdomain":
		return &i.XMPPDomain
	case "xmpppubsubdomain":
		return &i.XMPPPubSubDomain
	case "lastctiheartbeatstatus":
		return &i.LastCTIHeartbeatStatus
	case "lastsuccessctiheartbeattime":
		return &i.LastSuccessCTIHeartbeatTime
	case "ctiversion":
		return &i.CTIVersion
	case "ctiheartbeatinterval":
		return &i.CTIHeartbeatInterval
	case "currenttimestamp":
		return &i.CurrentTimestamp
	case "systemauthmode":
		return &i.SystemAuthMode
	case "timezoneoffset":
		return &i.TimezoneOffset
	case "peripheralid":
		return &i.PeripheralID
	case "license":
		return &i.License
	case "uri":
		return &i.URI
	case "ctimmode":
		return &i.CTIMMode
	case "ctitimeinmmode":
		return &i.CTITimeInMMode
	case "finessemmode":
		return &i.FinesseMMode
	case "finessetimeinmmode":
		return &i.FinesseTimeInMMode
	}
	return nil
}

// Parse parses a SystemInfo document, such as the <data> of a SystemInfo
// notification (xmppprobe.Notification.Data), with the parser Fetch uses. A
// document that is not a SystemInfo, or that contradicts itself, is an error
// wrapping ErrUnusable, whose text is sanitized. A SystemInfo without
// <status> is no error: its Status is "", for the caller to judge.
func Parse(data []byte) (*Info, error) {
	info, err := parse(data)
	if err != nil {
		return nil, unusable(err)
	}
	return info, nil
}

// parse parses a SystemInfo document. The root element is SystemInfo (or
// systemInfo, as pubsub notifications may spell it). A document without
// <status> parses fine with Status == ""; deciding what that means is the
// caller's business. Anything that is not such a document, including a
// truncated one, is an error that the caller wraps as unusable. So is one
// that contradicts itself: a known field or node given twice, or markup inside
// a known field, since reading either one way would let a document that also
// says OUT_OF_SERVICE pass as IN_SERVICE.
func parse(data []byte) (*Info, error) {
	d, err := openRoot(data, "SystemInfo")
	if err != nil {
		return nil, err
	}
	info := &Info{}
	seen := make(map[string]bool)
	err = eachChild(d, func(name string) error {
		switch name {
		case "primarynode", "secondarynode":
			if err := once(seen, name); err != nil {
				return err
			}
			n, err := parseNode(d)
			if name == "primarynode" {
				info.PrimaryNode = n
			} else {
				info.SecondaryNode = n
			}
			return err
		case "ctiservers":
			return eachChild(d, func(name string) error {
				if name != "ctiserver" {
					return skip(d)
				}
				var s CTIServer
				err := textFields(d, map[string]*string{"host": &s.Host, "connectedduration": &s.ConnectedDuration, "active": &s.Active})
				info.CTIServers = append(info.CTIServers, s)
				return err
			})
		}
		p := info.field(name)
		if p == nil {
			return skip(d)
		}
		if err := once(seen, name); err != nil {
			return err
		}
		return textInto(d, name, p)
	})
	if err != nil {
		return nil, err
	}
	if err := expectEnd(d); err != nil {
		return nil, err
	}
	return info, nil
}

func parseNode(d *xml.Decoder) (*Node, error) {
	n := &Node{}
	err := textFields(d, map[string]*string{"host": &n.Host, "httpsport": &n.HTTPSPort, "xmppport": &n.XMPPPort, "xmppsecureport": &n.XMPPSecurePort})
	return n, err
}
