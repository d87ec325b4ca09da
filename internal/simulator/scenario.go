// Package simulator runs simulated Cisco Finesse nodes on loopback: HTTPS
// SystemInfo and an XMPP Notification Service that behave, on the wire, like
// a Finesse node in each of the guide's failure scenarios.
package simulator

import (
	"fmt"
	"strings"

	"github.com/finessectl/finessectl/internal/finesse"
)

// Scenario is a state of a simulated node, named after the guide's failure
// scenarios.
type Scenario string

const (
	Healthy          Scenario = "healthy"
	OutOfService     Scenario = "out-of-service"
	WebappDown       Scenario = "webapp-down"
	TomcatDown       Scenario = "tomcat-down"
	NotificationDown Scenario = "notification-down"
	NetworkLoss      Scenario = "network-loss"
	AuthReject       Scenario = "auth-reject"
	// FinesseDisconnected is criterion 3 failing alone: the guide says an
	// UNAVAILABLE 'finesse' presence "may mean that the connection is lost".
	FinesseDisconnected Scenario = "finesse-disconnected"
	// Maintenance and CTIHeartbeatLost pass all three criteria with a
	// warning: a node draining for maintenance, and one whose CTI link
	// missed its last heartbeat, which failing-over desktops avoid.
	Maintenance      Scenario = "maintenance"
	CTIHeartbeatLost Scenario = "cti-heartbeat-lost"
)

// Behaviour is what a scenario does to each part of the node.
type Behaviour struct {
	Scenario         Scenario
	Description      string
	HTTPS            portState // the SystemInfo port
	XMPP             portState // both Notification Service ports
	Status           string    // SystemInfo status while HTTPS is open
	HTTPStatus       int       // 503 serves Finesse's SERVER_OUT_OF_SERVICE ApiErrors instead of SystemInfo
	StatusReason     string
	FinesseAvailable bool // the 'finesse' user's presence
	RejectAuth       bool
	FinesseMMode     string // SystemInfo finesseMMode
	HeartbeatFailed  bool   // lastCTIHeartbeatStatus failure while IN_SERVICE
	AuthMode         string // SystemInfo systemAuthMode; NON_SSO when empty
}

type portState int

const (
	open   portState = iota // answers
	closed                  // refuses connections; live ones are dropped
	silent                  // accepts and never answers
)

// Behaviours lists every scenario in the order the demo walks through them.
var Behaviours = []Behaviour{
	{Scenario: Healthy, Description: "every criterion passes",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true},
	{Scenario: OutOfService, Description: "Finesse lost its CTI connection: SystemInfo answers 503 SERVER_OUT_OF_SERVICE, connected clients get an OUT_OF_SERVICE notification",
		Status: finesse.StatusOutOfService, HTTPStatus: 503, StatusReason: "CTI connection lost", FinesseAvailable: true},
	{Scenario: WebappDown, Description: "the Finesse web app is down: SystemInfo reports OUT_OF_SERVICE and the 'finesse' user goes unavailable",
		Status: finesse.StatusOutOfService, HTTPStatus: 200, StatusReason: "Finesse web application is not running"},
	{Scenario: TomcatDown, Description: "Cisco Finesse Tomcat is down: the HTTPS port refuses and the 'finesse' user goes unavailable",
		HTTPS: closed, Status: finesse.StatusInService, HTTPStatus: 200},
	{Scenario: NotificationDown, Description: "the Notification Service is down: both XMPP ports refuse and live streams are dropped (SystemInfo has not noticed yet)",
		XMPP: closed, Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true},
	{Scenario: NetworkLoss, Description: "the network is lost: every port accepts and stays silent",
		HTTPS: silent, XMPP: silent, Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true},
	{Scenario: AuthReject, Description: "the Notification Service rejects every login, on a node with HYBRID (SSO and non-SSO) authentication",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, RejectAuth: true, AuthMode: finesse.AuthModeHybrid},
	{Scenario: FinesseDisconnected, Description: "Finesse lost its own connection to the Notification Service: SystemInfo still says IN_SERVICE, the 'finesse' user is unavailable",
		Status: finesse.StatusInService, HTTPStatus: 200},
	{Scenario: Maintenance, Description: "the node is draining for maintenance (finesseMMode IN_PROGRESS) and still in service",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, FinesseMMode: finesse.MaintenanceInProgress},
	{Scenario: CTIHeartbeatLost, Description: "the CTI link missed its last heartbeat; SystemInfo still says IN_SERVICE",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, HeartbeatFailed: true},
}

// Lookup returns the behaviour of the named scenario.
func Lookup(name string) (Behaviour, error) {
	for _, b := range Behaviours {
		if string(b.Scenario) == name {
			return b, nil
		}
	}
	return Behaviour{}, fmt.Errorf("unknown scenario %q; use one of %s", name, strings.Join(Names(), ", "))
}

// Names lists the scenario names.
func Names() []string {
	names := make([]string, len(Behaviours))
	for i, b := range Behaviours {
		names[i] = string(b.Scenario)
	}
	return names
}
