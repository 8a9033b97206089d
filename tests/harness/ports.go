package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Test ports come from outside the kernel's ephemeral range, so that no
// outgoing connection of any process can take one between the moment it is
// picked and the moment the collector or sink binds it. The rest of the
// range is cut into blocks; each process takes blocks of its own by holding
// an exclusive flock on a file per block under os.TempDir() (the kernel
// drops the lock when the process ends, even on SIGKILL). Parallel test
// binaries (`go test ./...` runs packages side by side), the bench and other
// checkouts on the same machine therefore never hand out the same port, and
// a process never hands out a port twice while it has blocks left. Each port
// is still checked free by binding it, which skips ports some unrelated
// service listens on.
const (
	// blockSize ports a block: more than one test package uses (the
	// reliability package starts about 40 collectors of 4 ports each).
	blockSize = 256
	// lowestPort keeps clear of the ports services commonly use below it
	// (8080, 8888, 4317, 4318, databases, 10250-10259 of a local control plane).
	lowestPort = 15000
	// maxBindTries bounds the retries of a listener or a collector whose
	// port was taken all the same.
	maxBindTries = 5
)

// portsPicked, when set, is called with the ports a Collector or Sink is
// about to bind; the harness's own tests take one there to prove the retry.
var portsPicked func(ports ...int)

func notePicked(ports ...int) {
	if portsPicked != nil {
		portsPicked(ports...)
	}
}

var ports struct {
	mu     sync.Mutex
	blocks []portBlock // blocks this process holds, in the order taken
	next   int         // next port to hand out in the last block
	// candidates is every block start, computed once.
	candidates []int
	// exhausted is set when no further block could be locked: ports are then
	// reused from the blocks held, each checked free again.
	exhausted bool
	reuse     int
}

type portBlock struct {
	start int
	lock  *os.File // held open (and referenced) for the life of the process
}

// Port returns a loopback TCP port for a test listener: outside the
// ephemeral range, in a block only this process uses, and free right now.
// It is what FreePort uses, for callers without a testing.TB (the bench).
func Port() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for tries := 0; tries < 4*blockSize; tries++ {
		p, err := nextPortLocked()
		if err != nil {
			return 0, err
		}
		if portFree(p) {
			return p, nil
		}
	}
	return 0, errors.New("free port: no free port in this process's blocks")
}

// FreePort returns a loopback TCP port for the test to bind (see Port).
func FreePort(t TB) int {
	t.Helper()
	p, err := Port()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// Listen listens on a fresh loopback port (see Port), trying another port
// when the bind fails with "address already in use".
func Listen() (net.Listener, error) {
	var err error
	for range maxBindTries {
		var p int
		if p, err = Port(); err != nil {
			return nil, err
		}
		var l net.Listener
		if l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			return l, nil
		}
		if !IsAddrInUse(err) {
			return nil, err
		}
	}
	return nil, err
}

// IsAddrInUse reports whether err is a bind failing on a taken address.
func IsAddrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
}

// bindFailure matches Go's error for a taken address, as the collector logs it.
var bindFailure = regexp.MustCompile(`listen tcp [^ ]*:(\d+): bind: address already in use`)

// BindConflict reports which of ports a process's output says it could not
// bind because the address was taken (0, false when none).
func BindConflict(output string, ports ...int) (int, bool) {
	for _, m := range bindFailure.FindAllStringSubmatch(output, -1) {
		p, _ := strconv.Atoi(m[1])
		for _, want := range ports {
			if p == want {
				return p, true
			}
		}
	}
	return 0, false
}

// nextPortLocked hands out the next port of the blocks held, taking a new
// block when the current one is used up.
func nextPortLocked() (int, error) {
	if ports.exhausted {
		b := ports.blocks[(ports.reuse/blockSize)%len(ports.blocks)]
		p := b.start + ports.reuse%blockSize
		ports.reuse++
		return p, nil
	}
	if len(ports.blocks) == 0 || ports.next == blockSize {
		b, err := lockBlock()
		if err != nil {
			if len(ports.blocks) == 0 {
				return 0, err
			}
			ports.exhausted = true
			return nextPortLocked()
		}
		ports.blocks = append(ports.blocks, b)
		ports.next = 0
	}
	p := ports.blocks[len(ports.blocks)-1].start + ports.next
	ports.next++
	return p, nil
}

// lockBlock takes the first block, starting at one chosen by the process
// ID, whose lock file it can flock exclusively.
func lockBlock() (portBlock, error) {
	if ports.candidates == nil {
		ports.candidates = blockStarts(ephemeralRange())
	}
	dir := filepath.Join(os.TempDir(), "otlpcol-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return portBlock{}, fmt.Errorf("free port: %w", err)
	}
	n := len(ports.candidates)
	first := os.Getpid() % n
	for i := range n {
		start := ports.candidates[(first+i)%n]
		if held(start) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.lock", start)), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return portBlock{start: start, lock: f}, nil
	}
	return portBlock{}, fmt.Errorf("free port: all %d port blocks are locked by other processes (%s)", n, dir)
}

func held(start int) bool {
	for _, b := range ports.blocks {
		if b.start == start {
			return true
		}
	}
	return false
}

// ephemeralRange is the kernel's range for local ports of outgoing
// connections (and of binds to port 0).
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999 // Linux's default
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l > h {
		return lo, hi
	}
	return l, h
}

// blockStarts cuts [lowestPort, 65535] minus the ephemeral range [lo, hi]
// into whole blocks. When the ephemeral range leaves no room (some systems
// give it all ports), blocks are cut from the whole span: they still keep
// test processes apart, and the bind retries cover the rest.
func blockStarts(lo, hi int) []int {
	var starts []int
	add := func(from, to int) { // inclusive bounds
		for s := from; s+blockSize-1 <= to; s += blockSize {
			starts = append(starts, s)
		}
	}
	add(lowestPort, min(lo-1, 65535))
	add(max(hi+1, lowestPort), 65535)
	if len(starts) == 0 {
		add(lowestPort, 65535)
	}
	return starts
}

// portFree reports whether a loopback listener can bind p now.
func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
