// Package simulator runs simulated Cisco Finesse nodes on loopback: HTTPS
// SystemInfo and an XMPP Notification Service that behave, on the wire, like
// a Finesse node in each of the guide's failure scenarios.
package simulator

import (
	"fmt"
	"net/http"
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
	// CertExpired fails only the TLS handshake: every TLS port presents a
	// certificate from the simulator's CA that expired yesterday, the state a
	// node is in when nobody renewed its Tomcat certificate.
	CertExpired Scenario = "cert-expired"
	// NotificationCertStale is a node whose Tomcat certificate was renewed
	// without a restart of the Notification Service, which still presents
	// the old one, now expired, on its own ports (5222 after STARTTLS, 5223,
	// 7443); the HTTPS port, 12.6's /ws/ included, presents the new one.
	// Inferred, not observed: Cisco says to restart both services after a
	// certificate change, since "Finesse Notification Service shares the
	// same certificate with Cisco Finesse Tomcat".
	NotificationCertStale Scenario = "notification-cert-stale"
	// FinesseDisconnected is criterion 3 failing alone: the guide says an
	// UNAVAILABLE 'finesse' presence "may mean that the connection is lost".
	FinesseDisconnected Scenario = "finesse-disconnected"
	// FinesseNotInRoster is a probe account provisioned without the
	// 'finesse' contact: the roster comes without it and its presence never
	// does, though Finesse is fine.
	FinesseNotInRoster Scenario = "finesse-not-in-roster"
	// Maintenance and CTIHeartbeatLost pass all three criteria with a
	// warning: a node draining for maintenance, and one whose CTI link
	// missed its last heartbeat, which failing-over desktops avoid.
	Maintenance      Scenario = "maintenance"
	CTIHeartbeatLost Scenario = "cti-heartbeat-lost"
)

// Behaviour is what a scenario does to each part of the node.
type Behaviour struct {
	Scenario    Scenario
	Description string
	HTTPS       portState // the SystemInfo port
	XMPP        portState // both Notification Service ports
	// BOSH is port 7443, the Notification Service's own HTTPS port, so it
	// goes down with the service, not with Tomcat.
	BOSH portState
	// WebProxyStatus, when not 0, is what /ws/ on the HTTPS port answers
	// instead of upgrading: 12.6's web proxy is up while the Notification
	// Service behind it is not.
	WebProxyStatus     int
	ExpiredCertificate bool // every TLS port presents the expired certificate
	// NotificationCertificateStale: the Notification Service's ports (both
	// XMPP ports and 7443) present the expired certificate.
	NotificationCertificateStale bool
	Status                       string // SystemInfo status while HTTPS is open
	HTTPStatus                   int    // 503 serves Finesse's SERVER_OUT_OF_SERVICE ApiErrors instead of SystemInfo
	StatusReason                 string
	FinesseAvailable             bool // the 'finesse' user's presence
	RosterLacksFinesse           bool // the probe user's roster lacks the 'finesse' user, so its presence is not sent
	RejectAuth                   bool
	FinesseMMode                 string // SystemInfo finesseMMode
	HeartbeatFailed              bool   // lastCTIHeartbeatStatus failure while IN_SERVICE
	AuthMode                     string // SystemInfo systemAuthMode; NON_SSO when empty
}

// ServesExpiredCertificate reports whether a port presents the expired
// certificate, which only the simulator's own CA can issue.
func (b Behaviour) ServesExpiredCertificate() bool {
	return b.ExpiredCertificate || b.NotificationCertificateStale
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
	{Scenario: TomcatDown, Description: "Cisco Finesse Tomcat is down: the HTTPS port refuses (7443 still serves) and the 'finesse' user goes unavailable",
		HTTPS: closed, Status: finesse.StatusInService, HTTPStatus: 200},
	{Scenario: NotificationDown, Description: "the Notification Service is down: both XMPP ports and 7443 refuse, /ws/ on the HTTPS port answers 502 Bad Gateway, live streams are dropped (SystemInfo has not noticed yet)",
		XMPP: closed, BOSH: closed, WebProxyStatus: http.StatusBadGateway, Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true},
	{Scenario: NetworkLoss, Description: "the network is lost: every port accepts and stays silent",
		HTTPS: silent, XMPP: silent, BOSH: silent, Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true},
	{Scenario: CertExpired, Description: "the certificate expired yesterday: every TLS port (HTTPS, 7443, direct TLS, STARTTLS) presents one from the same CA valid from 400 days ago to 1 day ago; all else is healthy",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, ExpiredCertificate: true},
	{Scenario: NotificationCertStale, Description: "Tomcat's certificate was renewed but the Notification Service not restarted: its ports (5222 after STARTTLS, 5223, 7443) present the old one, expired yesterday; the HTTPS port, /ws/ included, the new one",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, NotificationCertificateStale: true},
	{Scenario: AuthReject, Description: "the Notification Service rejects every login, on a node with HYBRID (SSO and non-SSO) authentication",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, RejectAuth: true, AuthMode: finesse.AuthModeHybrid},
	{Scenario: FinesseDisconnected, Description: "Finesse lost its own connection to the Notification Service: SystemInfo still says IN_SERVICE, the 'finesse' user is unavailable",
		Status: finesse.StatusInService, HTTPStatus: 200},
	{Scenario: FinesseNotInRoster, Description: "the probe user's roster lacks the 'finesse' user, so its presence never comes; all else is healthy",
		Status: finesse.StatusInService, HTTPStatus: 200, FinesseAvailable: true, RosterLacksFinesse: true},
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
