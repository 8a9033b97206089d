package k8s

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// cluster is a control plane on loopback: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (fake nodes), each a
// process of this test, all stopped when the test ends.
type cluster struct {
	t          *testing.T
	bin        string // directory of the control-plane binaries
	dir        string
	pki        *pki
	server     string // https://127.0.0.1:port
	kubeconfig string // admin
	procs      []*proc
}

// proc is one control-plane process, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	p := &proc{name: name, log: filepath.Join(c.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(filepath.Join(c.bin, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p
}

// stop ends every process, newest first: SIGTERM, then SIGKILL after 10 s.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// tail is the end of a process's log, for failure messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startCluster brings up the control plane with nodes fake nodes and waits
// until the nodes are Ready and the default ServiceAccount exists.
func startCluster(t *testing.T, bin string, nodes int) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "otlpcol-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("--- %s log (%s), last lines:\n%s", p.name, p.log, p.tail())
			}
			t.Logf("control-plane logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	c.pki = newPKI(t, dir)

	etcdClient, etcdPeer := harness.FreePort(t), harness.FreePort(t)
	etcd := c.start("etcd",
		"--name=otlpcol-test", "--data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-cluster=otlpcol-test=http://127.0.0.1:%d", etcdPeer),
		"--unsafe-no-fsync", "--log-level=warn")

	apiPort := harness.FreePort(t)
	c.server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	api := c.start("kube-apiserver",
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClient),
		"--tls-cert-file="+c.pki.ServingCert, "--tls-private-key-file="+c.pki.ServingKey,
		"--client-ca-file="+c.pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.SAPub,
		"--service-account-signing-key-file="+c.pki.SAKey,
		"--authorization-mode=Node,RBAC",
		// Nothing here runs a pod's containers: no kubelet to reach, and the
		// "kubernetes" Service gets no endpoint (it would be loopback).
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--profiling=false")
	c.kubeconfig = c.writeKubeconfig(t, "admin.kubeconfig", fmt.Sprintf(
		"    client-certificate-data: %s\n    client-key-data: %s\n",
		base64.StdEncoding.EncodeToString(c.pki.adminCertPEM), base64.StdEncoding.EncodeToString(c.pki.adminKey)))
	c.waitReadyz(api, etcd)

	c.start("kube-controller-manager",
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", harness.FreePort(t)),
		"--leader-elect=false", "--controllers=*",
		"--root-ca-file="+c.pki.CACert,
		"--service-account-private-key-file="+c.pki.SAKey,
		"--use-service-account-credentials=false",
		"--cluster-cidr=10.244.0.0/16", "--allocate-node-cidrs=false",
		"--service-cluster-ip-range=10.96.0.0/16")
	c.start("kube-scheduler",
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", harness.FreePort(t)),
		"--leader-elect=false")
	// kwok plays the kubelet of every node annotated kwok.x-k8s.io/node=fake:
	// node heartbeats, pods Running and Ready, and a pod IP from its CIDR
	// that nothing connects to.
	c.start("kwok",
		"--config="+filepath.Join(bin, "kwok-stages.yaml"),
		"--kubeconfig="+c.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.244.0.1/16", "--node-ip=10.245.0.1",
		fmt.Sprintf("--server-address=127.0.0.1:%d", harness.FreePort(t)))

	var ns strings.Builder
	for i := range nodes {
		fmt.Fprintf(&ns, `---
apiVersion: v1
kind: Node
metadata:
  name: fake-node-%d
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: fake-node-%d
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-%d
    type: kwok
status:
  allocatable: {cpu: "32", memory: 64Gi, pods: "110"}
  capacity: {cpu: "32", memory: 64Gi, pods: "110"}
`, i, i, i%2)
	}
	c.kubectlIn(t, ns.String(), "apply", "-f", "-")
	c.waitFor(t, "nodes Ready", 2*time.Minute, func() (bool, string) {
		out, err := c.kubectlErr("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		return err == nil && strings.Count(out, "=True") == nodes, out
	})
	c.waitFor(t, "ServiceAccount default/default", time.Minute, func() (bool, string) {
		_, err := c.kubectlErr("-n", "default", "get", "serviceaccount", "default")
		return err == nil, fmt.Sprint(err)
	})
	return c
}

// writeKubeconfig writes a kubeconfig for this cluster with the given user
// lines (already indented) and returns its path.
func (c *cluster) writeKubeconfig(t *testing.T, name, user string) string {
	t.Helper()
	path := filepath.Join(c.dir, name)
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: otlpcol-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: user
  user:
%scontexts:
- name: otlpcol-test
  context: {cluster: otlpcol-test, user: user}
current-context: otlpcol-test
`, c.server, base64.StdEncoding.EncodeToString(c.pki.caPEM), user)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitReadyz polls the API server's /readyz (loopback, admin certificate).
func (c *cluster) waitReadyz(api, etcd *proc) {
	c.t.Helper()
	cert, err := tls.LoadX509KeyPair(c.pki.AdminCert, c.pki.AdminKey)
	if err != nil {
		c.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.pki.caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
	}}
	c.waitFor(c.t, "kube-apiserver /readyz", 3*time.Minute, func() (bool, string) {
		for _, p := range []*proc{etcd, api} {
			if p.exited() {
				c.t.Fatalf("%s exited:\n%s", p.name, p.tail())
			}
		}
		resp, err := hc.Get(c.server + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// waitFor polls cond every 250 ms until it holds or timeout passes.
func (c *cluster) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s (last: %s)", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kubectlErr runs the built kubectl as admin and returns stdout.
func (c *cluster) kubectlErr(args ...string) (string, error) {
	return c.kubectlAs(c.kubeconfig, "", args...)
}

// kubectlAs runs kubectl with the given kubeconfig and stdin.
func (c *cluster) kubectlAs(kubeconfig, stdin string, args ...string) (string, error) {
	out, _, err := c.kubectlFull(kubeconfig, stdin, args...)
	return out, err
}

// kubectlFull runs kubectl and returns stdout and stderr (where warnings go).
func (c *cluster) kubectlFull(kubeconfig, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	if err != nil {
		return out.String(), errb.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), nil
}

// kubectl runs kubectl as admin and fails the test on error.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kubectlIn is kubectl with stdin.
func (c *cluster) kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := c.kubectlAs(c.kubeconfig, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
