package k8s

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// pki is what the control plane needs to authenticate: one CA for serving
// and client certificates, the API server's serving pair (127.0.0.1 only), an
// admin client pair (group system:masters) and the service-account signing key.
type pki struct {
	CACert                        string
	ServingCert, ServingKey       string
	AdminCert, AdminKey           string
	SAKey, SAPub                  string
	caPEM, adminCertPEM, adminKey []byte
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	ca := harness.NewCA(t, dir, "otlpcol-test-ca")
	serving := ca.Issue(t, "apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	// The API server takes a client certificate's organizations as its groups.
	admin := ca.Issue(t, "admin", pkix.Name{CommonName: "otlpcol-test-admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil)
	p := &pki{
		CACert: ca.CertFile, caPEM: ca.CertPEM,
		ServingCert: serving.CertFile, ServingKey: serving.KeyFile,
		AdminCert: admin.CertFile, AdminKey: admin.KeyFile, adminCertPEM: admin.CertPEM, adminKey: admin.KeyPEM,
		SAKey: filepath.Join(dir, "sa.key"), SAPub: filepath.Join(dir, "sa.pub"),
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	harness.WritePEM(t, p.SAKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey))
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	harness.WritePEM(t, p.SAPub, "PUBLIC KEY", pub)
	return p
}
