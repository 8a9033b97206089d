package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cgroup is a memory cgroup a test created for the collector, the way a
// container runtime confines a pod to its limits.memory: v2 (memory.max)
// where the memory controller is on the unified hierarchy, v1
// (memory.limit_in_bytes) otherwise.
type Cgroup struct {
	Dir string
	V2  bool
}

// MemoryCgroup creates a memory cgroup limited to limit bytes (no swap)
// below the test process's own, and removes it when the test ends (after
// the collector, which Start's cleanup kills first). It skips the test,
// saying why, where memory cgroups cannot be created (not root, no memory
// controller).
func MemoryCgroup(t testing.TB, limit int64) *Cgroup {
	t.Helper()
	parent, v2, err := ownMemoryCgroup()
	if err != nil {
		t.Skipf("memory cgroup unavailable: %v", err)
	}
	cg := &Cgroup{Dir: filepath.Join(parent, fmt.Sprintf("otlpcol-test-%d-%d", os.Getpid(), time.Now().UnixNano())), V2: v2}
	if err := os.Mkdir(cg.Dir, 0o755); err != nil {
		t.Skipf("memory cgroup unavailable: cannot create one below %s (%v); run as root with a memory controller", parent, err)
	}
	t.Cleanup(func() { cg.remove(t) })
	lim := strconv.FormatInt(limit, 10)
	if v2 {
		err = errors.Join(cg.write("memory.max", lim), cg.write("memory.swap.max", "0"))
	} else {
		err = cg.write("memory.limit_in_bytes", lim)
		// Without swap accounting there is no memsw file: nothing to cap.
		if _, e := os.Stat(filepath.Join(cg.Dir, "memory.memsw.limit_in_bytes")); e == nil {
			err = errors.Join(err, cg.write("memory.memsw.limit_in_bytes", lim))
		}
		err = errors.Join(err, cg.write("memory.swappiness", "0"))
	}
	if err != nil {
		t.Fatalf("memory cgroup %s: %v", cg.Dir, err)
	}
	return cg
}

// ProcsFile is the file a process writes its PID to, to join the cgroup.
func (cg *Cgroup) ProcsFile() string { return filepath.Join(cg.Dir, "cgroup.procs") }

// OOMKills is how many processes the kernel killed in this cgroup because
// it hit its limit.
func (cg *Cgroup) OOMKills() (int64, error) {
	name := "memory.oom_control"
	if cg.V2 {
		name = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(cg.Dir, name))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == "oom_kill" {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, nil
}

func (cg *Cgroup) write(name, value string) error {
	return os.WriteFile(filepath.Join(cg.Dir, name), []byte(value), 0o644)
}

// remove deletes the cgroup once its processes are gone (the kernel
// refuses to remove a cgroup that still has one).
func (cg *Cgroup) remove(t testing.TB) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Remove(cg.Dir)
		if err == nil || os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove memory cgroup %s: %v", cg.Dir, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownMemoryCgroup is the directory of this process's memory cgroup, and
// whether it is on the unified (v2) hierarchy.
func ownMemoryCgroup() (string, bool, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var v1Path, v2Path string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2Path = parts[2]
		case contains(strings.Split(parts[1], ","), "memory"):
			v1Path = parts[2]
		}
	}
	if v1Path != "" {
		dir := filepath.Join("/sys/fs/cgroup/memory", v1Path)
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			return dir, false, nil
		}
	}
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		ctrl, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil || !contains(strings.Fields(string(ctrl)), "memory") {
			continue
		}
		dir := filepath.Join(root, v2Path)
		// A v2 cgroup that holds processes cannot enable controllers for
		// children ("no internal processes"): its parent's subtree must.
		sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		if err == nil && contains(strings.Fields(string(sub)), "memory") {
			return dir, true, nil
		}
		return "", false, fmt.Errorf("cgroup v2 at %s does not delegate the memory controller to children", dir)
	}
	return "", false, errors.New("no memory controller in /proc/self/cgroup (cgroup v1) or on the unified hierarchy (v2)")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
