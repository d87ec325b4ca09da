package check

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// systemInfoCode maps a SystemInfo fetch error to the contract.
func systemInfoCode(err error) finesse.Code {
	var nis *systeminfo.NotInServiceError
	var te *probe.TLSError
	switch {
	case errors.As(err, &nis):
		return finesse.NotInService
	case errors.Is(err, systeminfo.ErrUnusable):
		return finesse.SystemInfoUnusable
	case errors.As(err, &te):
		return finesse.SystemInfoTLS
	}
	return finesse.SystemInfoUnreachable
}

// xmppCode maps a failure to connect or log in to the Notification Service.
func xmppCode(err error) finesse.Code {
	var ae *xmppprobe.AuthError
	var pe *xmppprobe.PhaseError
	var te *probe.TLSError
	switch {
	case errors.As(err, &ae), errors.Is(err, ErrLoginRefused):
		return finesse.XMPPAuthFailed
	// A server that takes the credentials and never answers has a stuck
	// authentication backend; one that ends the stream instead is going
	// down, and one that accepted them and then fell silent (the restart
	// phase) has a broken Notification Service.
	case errors.As(err, &pe) && pe.Phase == xmppprobe.PhaseAuth && errors.Is(err, context.DeadlineExceeded):
		return finesse.XMPPAuthFailed
	case errors.As(err, &te):
		return finesse.XMPPTLS
	}
	return finesse.XMPPConnectionFailed
}

// authHints looks for the usual causes of a failed Finesse sign-in.
func authHints(info *systeminfo.Info, user string) []Hint {
	var hints []Hint
	if info == nil {
		return nil
	}
	if strings.EqualFold(info.DeploymentType, "UCCE") && !allDigits(user) {
		hints = append(hints, HintAgentID)
	}
	switch strings.ToUpper(info.SystemAuthMode) {
	case finesse.AuthModeSSO, finesse.AuthModeHybrid:
		hints = append(hints, HintSSO)
	}
	return hints
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// infoWarnings lists what SystemInfo says an operator should know about an
// IN_SERVICE node.
func infoWarnings(info *systeminfo.Info) []Warning {
	var ws []Warning
	if strings.EqualFold(info.FinesseMMode, finesse.MaintenanceInProgress) {
		ws = append(ws, Warning{Code: WarnMaintenance, Severity: SeverityWarning})
	}
	if info.LastCTIHeartbeatStatus != "" && !strings.EqualFold(info.LastCTIHeartbeatStatus, finesse.HeartbeatSuccess) {
		ws = append(ws, Warning{Code: WarnCTIHeartbeat, Severity: SeverityWarning})
	}
	return ws
}

// certWarning is the warning, if any, about a certificate that expires
// within warn (critical within crit) of now.
func certWarning(code WarningCode, cert *probe.Certificate, now time.Time, warn, crit time.Duration) []Warning {
	if cert == nil {
		return nil
	}
	switch left := cert.NotAfter.Sub(now); {
	case left < crit:
		return []Warning{{Code: code, Severity: SeverityCritical}}
	case left < warn:
		return []Warning{{Code: code, Severity: SeverityWarning}}
	}
	return nil
}
