// Package pki makes a throwaway certificate authority and the server
// certificates it signs. The simulator uses it to serve TLS without a file on
// disk, and the tests use it to build trusted, untrusted and misnamed peers.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// CA is a self-signed certificate authority held in memory.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// Leaf is a certificate issued by a CA, with its private key.
type Leaf struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// NewCA creates a CA valid from an hour ago for the given lifetime; the hour
// of slack keeps tests immune to small clock differences.
func NewCA(commonName string, lifetime time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"finessectl test CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, key: key}, nil
}

// Issue signs a server certificate for the given DNS names and IP addresses
// (an entry that parses as an IP becomes an IP SAN). notAfter lets tests make
// expired certificates; the zero time means one year from now.
func (ca *CA) Issue(names []string, notAfter time.Time) (*Leaf, error) {
	now := time.Now()
	if notAfter.IsZero() {
		notAfter = now.Add(365 * 24 * time.Hour)
	}
	notBefore := now.Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-time.Hour)
	}
	return ca.IssueValid(names, notBefore, notAfter)
}

// IssueValid is Issue with the whole validity period given, so that an
// expired certificate can look like one that served its full term (a year
// ago to yesterday) rather than one that lived for an hour.
func (ca *CA) IssueValid(names []string, notBefore, notAfter time.Time) (*Leaf, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("issue certificate: no names given")
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("issue certificate for %v: notAfter %v is not after notBefore %v", names, notAfter, notBefore)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %v: %w", names, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return &Leaf{Cert: cert, key: key}, nil
}

// CertPEM returns the CA certificate in PEM, the form --ca-file reads.
func (ca *CA) CertPEM() []byte { return certPEM(ca.Cert) }

// Pool returns a pool that trusts only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteCertFile writes the CA certificate as PEM, readable by everyone: it is
// public, and servers started under another user must be able to read it.
func (ca *CA) WriteCertFile(path string) error {
	return os.WriteFile(path, ca.CertPEM(), 0o644)
}

// TLSCertificate returns the leaf in the form crypto/tls serves.
func (l *Leaf) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.key, Leaf: l.Cert}
}

// CertPEM returns the leaf certificate in PEM.
func (l *Leaf) CertPEM() []byte { return certPEM(l.Cert) }

// KeyPEM returns the leaf's private key as PKCS#8 PEM.
func (l *Leaf) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(l.key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes the certificate and key as PEM files. The key file is
// 0640 so that a server dropping privileges to a group can still read it.
func (l *Leaf) WriteFiles(certPath, keyPath string) error {
	key, err := l.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, l.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, key, 0o640); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand never fails on supported platforms; a fixed serial is
		// harmless for a throwaway CA if it ever does.
		return big.NewInt(1)
	}
	return n
}
