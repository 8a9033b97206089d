package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testHost is a network namespace joined to the host by a veth pair: the
// host end has HostIP, the namespace end PodIP. Both are addresses of this
// test's own making; a process run in the namespace is a "pod" the agent can
// really reach, unlike kwok's fake pod IPs.
type testHost struct {
	NS, HostIf string
	HostIP     string
	PodIP      string
}

// newTestHost creates namespace number i (10.213.<10+i>.0/24) and removes it
// when the test ends, whatever happened.
func newTestHost(t *testing.T, i int) *testHost {
	t.Helper()
	pid := os.Getpid() % 100000
	h := &testHost{
		NS:     fmt.Sprintf("otlpcol-k8s-%d-%d", pid, i),
		HostIf: fmt.Sprintf("otk%dh%d", pid, i),
		HostIP: fmt.Sprintf("10.213.%d.1", 10+i),
		PodIP:  fmt.Sprintf("10.213.%d.2", 10+i),
	}
	peer := fmt.Sprintf("otk%dp%d", pid, i)
	t.Cleanup(func() {
		// Deleting the namespace deletes its end of the pair, and with it
		// the host end; the explicit delete covers a half-made setup.
		_ = exec.Command("ip", "netns", "del", h.NS).Run()
		_ = exec.Command("ip", "link", "del", h.HostIf).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", h.NS},
		{"link", "add", h.HostIf, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", h.NS},
		{"addr", "add", h.HostIP + "/24", "dev", h.HostIf},
		{"link", "set", h.HostIf, "up"},
		{"-n", h.NS, "addr", "add", h.PodIP + "/24", "dev", peer},
		{"-n", h.NS, "link", "set", peer, "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return h
}

// removeStaleHosts deletes the namespaces (and host ends) of earlier runs
// whose test process is gone: a run killed by go test's timeout never got to
// its t.Cleanup.
func removeStaleHosts() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name := fields[0]
		var pid, i int
		if n, _ := fmt.Sscanf(name, "otlpcol-k8s-%d-%d", &pid, &i); n != 2 || pid == os.Getpid()%100000 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // that run may still be going
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("otk%dh%d", pid, i)).Run()
	}
}

// needNetns fails unless this process may create network namespaces: the
// routing test is the point of `make test-k8s`, it must not pass by skipping.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the routing test creates network namespaces: run make test-k8s as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the routing test needs ip (Debian package iproute2; make test-k8s installs it)")
	}
}
