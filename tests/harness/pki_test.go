package harness

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseLeaf(t *testing.T, l Leaf) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(l.CertPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func TestCAIssues(t *testing.T) {
	dir := t.TempDir()
	ca := NewCA(t, filepath.Join(dir, "a"), "test CA")
	other := NewCA(t, filepath.Join(dir, "b"), "other CA")
	server := parseLeaf(t, ca.IssueLoopback(t, "server", x509.ExtKeyUsageServerAuth))
	client := ca.IssueLoopback(t, "client", x509.ExtKeyUsageClientAuth)

	_, err := server.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "127.0.0.1"})
	assert.NoError(t, err, "server certificate for 127.0.0.1")
	_, err = server.Verify(x509.VerifyOptions{Roots: other.Pool, DNSName: "localhost"})
	assert.Error(t, err, "another CA must not trust it")
	_, err = parseLeaf(t, client).Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err, "client certificate")
	_, err = server.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "a server certificate is no client certificate")
	assert.NotEqual(t, server.SerialNumber, parseLeaf(t, client).SerialNumber)
	kp := client.KeyPair(t)
	assert.Len(t, kp.Certificate, 1)
	for _, f := range []string{ca.CertFile, client.CertFile, client.KeyFile} {
		assert.FileExists(t, f)
	}
}
