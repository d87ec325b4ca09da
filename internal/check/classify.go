package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// systemInfoCode maps a SystemInfo fetch error to the contract.
func systemInfoCode(err error) Code {
	var nis *systeminfo.NotInServiceError
	switch {
	case errors.As(err, &nis):
		return NotInService
	case errors.Is(err, systeminfo.ErrUnusable):
		return SystemInfoUnusable
	case isTLSFailure(err):
		return SystemInfoTLS
	}
	return SystemInfoUnreachable
}

// xmppCode maps a failure to connect or log in to the Notification Service.
func xmppCode(err error) Code {
	var ae *xmppprobe.AuthError
	var pe *xmppprobe.PhaseError
	switch {
	case errors.As(err, &ae):
		return XMPPAuthFailed
	// A server that takes the credentials and never answers has a stuck
	// authentication backend; one that ends the stream instead is going down.
	case errors.As(err, &pe) && pe.Phase == xmppprobe.PhaseAuth && errors.Is(err, context.DeadlineExceeded):
		return XMPPAuthFailed
	case isTLSFailure(err):
		return XMPPTLS
	}
	return XMPPConnectionFailed
}

// isTLSFailure reports certificate and TLS protocol failures, as opposed to
// the network failing underneath TLS.
func isTLSFailure(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		op       *net.OpError
	)
	// crypto/tls reports an alert from the peer as a net.OpError with this Op.
	remoteAlert := errors.As(err, &op) && op.Op == "remote error"
	return remoteAlert || errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record) || errors.As(err, &alert)
}
