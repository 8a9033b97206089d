package reliability

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, written as PEM files under a test
// directory.
type pki struct {
	ca            *harness.CA
	server        harness.Leaf
	clientKeyPair tls.Certificate
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	ca := harness.NewCA(t, filepath.Join(t.TempDir(), name), name+" test CA")
	return &pki{
		ca:            ca,
		server:        ca.IssueLoopback(t, "server", x509.ExtKeyUsageServerAuth),
		clientKeyPair: ca.IssueLoopback(t, "client", x509.ExtKeyUsageClientAuth).KeyPair(t),
	}
}

// clientTLS is a client configuration trusting p's CA, presenting cert
// when it is not nil.
func (p *pki) clientTLS(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: p.ca.Pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}
