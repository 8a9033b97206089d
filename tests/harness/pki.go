package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a throwaway certificate authority for tests: ECDSA P-256 keys,
// certificates valid from an hour ago for a day, every certificate and key
// written as a PEM file under Dir. Not safe for concurrent use.
type CA struct {
	Dir      string
	CertFile string         // the CA certificate
	CertPEM  []byte         // the same, in memory
	Pool     *x509.CertPool // trusts this CA only

	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// Leaf is a certificate a CA issued, and its key.
type Leaf struct {
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
}

// NewCA creates a CA named commonName and writes ca.crt under dir (created
// if missing).
func NewCA(t testing.TB, dir, commonName string) *CA {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := &CA{Dir: dir}
	key := newKey(t)
	tmpl := ca.template(pkix.Name{CommonName: commonName})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	ca.key = key
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(ca.cert)
	ca.CertFile = filepath.Join(dir, "ca.crt")
	ca.CertPEM = WritePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Issue signs a certificate for usage with subject and the given IP
// addresses and DNS names, and writes name.crt and name.key under Dir.
func (ca *CA) Issue(t testing.TB, name string, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dnsNames []string) Leaf {
	t.Helper()
	key := newKey(t)
	tmpl := ca.template(subject)
	tmpl.ExtKeyUsage, tmpl.IPAddresses, tmpl.DNSNames = []x509.ExtKeyUsage{usage}, ips, dnsNames
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := Leaf{CertFile: filepath.Join(ca.Dir, name+".crt"), KeyFile: filepath.Join(ca.Dir, name+".key")}
	l.CertPEM = WritePEM(t, l.CertFile, "CERTIFICATE", der)
	l.KeyPEM = WritePEM(t, l.KeyFile, "EC PRIVATE KEY", keyDER)
	return l
}

// IssueLoopback is Issue for a certificate named name (its common name too)
// valid for 127.0.0.1 and localhost.
func (ca *CA) IssueLoopback(t testing.TB, name string, usage x509.ExtKeyUsage) Leaf {
	t.Helper()
	return ca.Issue(t, name, pkix.Name{CommonName: name}, usage, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
}

// KeyPair is the leaf as a tls.Certificate.
func (l Leaf) KeyPair(t testing.TB) tls.Certificate {
	t.Helper()
	kp, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// template is a certificate template with the next serial number.
func (ca *CA) template(subject pkix.Name) *x509.Certificate {
	ca.serial++
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// WritePEM writes der as one PEM block of type typ to path (mode 0600) and
// returns the PEM text.
func WritePEM(t testing.TB, path, typ string, der []byte) []byte {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}
