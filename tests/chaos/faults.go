package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The fault kinds a step draws from.
const (
	FaultKill        = "kill"        // SIGKILL, restart; Param > 0: SIGKILL again Param ms into recovery
	FaultTerm        = "term"        // SIGTERM (a hang is a violation), restart
	FaultDown        = "down"        // backend down
	FaultBlackHole   = "blackhole"   // backend accepts connections, never answers
	FaultSlow        = "slow"        // backend answers after 1.5 s
	FaultFlaky       = "flaky"       // backend answers 50% Unavailable
	FaultAuth        = "auth"        // backend answers Unauthenticated
	FaultSizeLimit   = "sizelimit"   // backend's message-size limit below a batch
	FaultMarker      = "marker"      // a client sends data the backend refuses (invalid UTF-8)
	FaultDiskFull    = "diskfull"    // gateway0's tmpfs full, away from a segment boundary
	FaultDiskFullSeg = "diskfullseg" // backend down, gateway0's tmpfs out of inodes: the open segments fill, the next rotation fails
	FaultDamageSeg   = "damageseg"   // a byte of a write-ahead-log segment (not the newest) flipped while stopped
	FaultDamageTail  = "damagetail"  // a byte of the newest segment's last record flipped while stopped
	FaultDamageCkpt  = "damageckpt"  // the write-ahead-log checkpoint damaged while stopped
	FaultReplica     = "replica"     // gateway1 removed from the agent's ring, then added back
	FaultHostile     = "hostile"     // a burst of hostile input
	faultWindowParts = 3
)

// AllFaults lists every fault kind, in the order the generator indexes them.
var AllFaults = []string{
	FaultKill, FaultTerm, FaultDown, FaultBlackHole, FaultSlow, FaultFlaky, FaultAuth,
	FaultSizeLimit, FaultMarker, FaultDiskFull, FaultDiskFullSeg, FaultDamageSeg, FaultDamageTail, FaultDamageCkpt, FaultReplica, FaultHostile,
}

// DefaultFaults is what a campaign draws from unless CHAOS_FAULTS says
// otherwise: every kind (none finds an open violation; see README.md).
var DefaultFaults = AllFaults

// Step is one fault of a schedule. Target is the process (0, 1: gateways,
// 2: agent) where the kind has one; Param varies the fault; Window is how
// long the fault lasts, with the load running, before it is healed.
type Step struct {
	Kind   string
	Target int
	Param  int
	Window time.Duration
}

func (s Step) String() string {
	return fmt.Sprintf("%s/%d/%d/%d", s.Kind, s.Target, s.Param, s.Window.Milliseconds())
}

// ParseStep reads a step as String writes it.
func ParseStep(s string) (Step, error) {
	f := strings.Split(s, "/")
	if len(f) != 4 {
		return Step{}, fmt.Errorf("step %q: want kind/target/param/window_ms", s)
	}
	var n [3]int
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			return Step{}, fmt.Errorf("step %q: %w", s, err)
		}
		n[i] = v
	}
	return Step{Kind: f[0], Target: n[0], Param: n[1], Window: time.Duration(n[2]) * time.Millisecond}, nil
}

// FormatSchedule writes steps as CHAOS_SCHEDULE takes them.
func FormatSchedule(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// ParseSchedule reads CHAOS_SCHEDULE.
func ParseSchedule(s string) ([]Step, error) {
	var steps []Step
	for _, f := range strings.Fields(s) {
		st, err := ParseStep(f)
		if err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// Generator draws steps from a seed: the same seed and fault list give the
// same schedule (math/rand/v2's PCG).
type Generator struct {
	rng    *rand.Rand
	faults []string
}

// NewGenerator returns the generator of seed over faults.
func NewGenerator(seed uint64, faults []string) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, 0x5eed0f0a1c0ffee)), faults: faults}
}

// Next draws the next step.
func (g *Generator) Next() Step {
	s := Step{Kind: g.faults[g.rng.IntN(len(g.faults))]}
	s.Window = time.Duration(1000+g.rng.IntN(faultWindowParts)*1000) * time.Millisecond
	switch s.Kind {
	case FaultKill:
		s.Target = g.rng.IntN(processesCount)
		if g.rng.IntN(3) == 0 {
			s.Param = 1 + g.rng.IntN(1500) // kill again during recovery
		}
	case FaultTerm, FaultHostile:
		s.Target = g.rng.IntN(processesCount)
	case FaultDamageSeg, FaultDamageTail, FaultDamageCkpt:
		s.Target = g.rng.IntN(2)
		s.Param = g.rng.IntN(1 << 20)
	}
	return s
}

// Schedule draws n steps.
func (g *Generator) Schedule(n int) []Step {
	steps := make([]Step, n)
	for i := range steps {
		steps[i] = g.Next()
	}
	return steps
}

// apply starts step s; heal (returned) ends it. An error is a failure of
// the campaign's machinery or a process that would not start again, and
// counts as a violation of the step.
func (w *world) apply(s Step) (heal func() error, err error) {
	nop := func() error { return nil }
	backendMode := func(m Mode) (func() error, error) {
		if err := w.backend.SetMode(m); err != nil {
			return nil, err
		}
		return func() error { return w.backend.SetMode(ModeNormal) }, nil
	}
	switch s.Kind {
	case FaultKill:
		w.kill(s.Target)
		if err := w.start(s.Target); err != nil {
			return nil, err
		}
		if s.Param > 0 {
			time.Sleep(time.Duration(s.Param) * time.Millisecond)
			w.kill(s.Target)
			if err := w.start(s.Target); err != nil {
				return nil, err
			}
		}
		return nop, nil
	case FaultTerm:
		w.term(s.Target)
		return nop, w.start(s.Target)
	case FaultDown:
		return backendMode(ModeDown)
	case FaultBlackHole:
		return backendMode(ModeBlackHole)
	case FaultSlow:
		return backendMode(ModeSlow)
	case FaultFlaky:
		return backendMode(ModeFlaky)
	case FaultAuth:
		return backendMode(ModeAuth)
	case FaultSizeLimit:
		return backendMode(ModeSizeLimit)
	case FaultMarker:
		w.marker.active.Store(true)
		return func() error { w.marker.active.Store(false); return nil }, nil
	case FaultDiskFull, FaultDiskFullSeg:
		if w.tmpfs == "" {
			w.t.Logf("chaos: %s skipped: gateway0 has no tmpfs", s)
			return nop, nil
		}
		seg := s.Kind == FaultDiskFullSeg
		if seg {
			// Nothing is delivered, so no segment is deleted to make room
			// before the segments fill.
			if err := w.backend.SetMode(ModeDown); err != nil {
				return nil, err
			}
		}
		if err := w.fillDisk(seg); err != nil {
			return nil, err
		}
		return func() error {
			if seg {
				if err := w.backend.SetMode(ModeNormal); err != nil {
					return err
				}
			}
			return os.RemoveAll(w.filler)
		}, nil
	case FaultDamageSeg, FaultDamageTail, FaultDamageCkpt:
		// The backend is away for a moment first, so that the log holds
		// records not yet delivered when the process dies.
		if err := w.backend.SetMode(ModeDown); err != nil {
			return nil, err
		}
		time.Sleep(1500 * time.Millisecond)
		w.kill(s.Target)
		if err := w.backend.SetMode(ModeNormal); err != nil {
			return nil, err
		}
		if s.Kind != FaultDamageCkpt {
			w.damageSegment(s.Target, s.Param, s.Kind == FaultDamageTail)
		} else {
			w.damageCheckpoint(s.Target, s.Param)
		}
		return nop, w.start(s.Target)
	case FaultReplica:
		// Remove: the agent's ring without gateway1, then gateway1 stops.
		w.ring = []int{0}
		w.term(agentID)
		if err := w.start(agentID); err != nil {
			return nil, err
		}
		w.term(1)
		return func() error {
			if err := w.start(1); err != nil {
				return err
			}
			w.ring = []int{0, 1}
			w.term(agentID)
			return w.start(agentID)
		}, nil
	case FaultHostile:
		w.hostileBurst(s.Target)
		return nop, nil
	}
	return nil, fmt.Errorf("unknown fault kind %q", s.Kind)
}

// fillDisk fills gateway0's tmpfs. Away from a segment boundary, one file
// takes every free byte: the next append fails. At a boundary, files take
// every free inode instead: appends go on into the segments open now until
// they are full, and the rotation after them cannot create its file (an
// exact byte count would not do: checkpoints, the dead letter and deleted
// segments move the free space all the time).
func (w *world) fillDisk(atBoundary bool) error {
	if atBoundary {
		w.filler = filepath.Join(w.tmpfs, "chaos-inodes")
		if err := os.Mkdir(w.filler, 0o755); err != nil {
			return err
		}
		for i := 0; ; i++ {
			f, err := os.Create(filepath.Join(w.filler, strconv.Itoa(i)))
			if err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					return nil
				}
				return err
			}
			_ = f.Close()
		}
	}
	w.filler = filepath.Join(w.tmpfs, "chaos-filler")
	f, err := os.Create(w.filler)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// segmentFiles lists dir's write-ahead-log segments, oldest first.
func segmentFiles(dir string) []string {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	sort.Strings(segs)
	return segs
}

// walRecords returns the records of a segment: offset and payload, read as
// the otlp_retry README documents the format (8-byte magic, then per record
// a 24-byte header: length u32 | crc u32 | seq u64 | items u32 | flags u32,
// then the OTLP request).
func walRecords(b []byte) (offs []int, payloads [][]byte) {
	for off := 8; off+24 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		end := off + 24 + n
		if n == 0 || end > len(b) {
			break
		}
		offs = append(offs, off)
		payloads = append(payloads, b[off+24:end])
		off = end
	}
	return offs, payloads
}

// damageSegment flips one payload byte of a record in one segment of
// gateway g (stopped). Every item of that segment is set aside: recovery
// may move the segment into corrupt/, where it stays on disk, counted.
//
// A flipped byte in the last record of the newest segment (tail) is the
// case recovery cannot tell from a write torn by the crash; any other
// record can only be damage.
func (w *world) damageSegment(g, param int, tail bool) {
	var segs []string
	for _, sig := range signals {
		all := segmentFiles(filepath.Join(w.procs[g].dir, "wal", signalName(sig)))
		switch {
		case len(all) == 0:
		case tail:
			segs = append(segs, all[len(all)-1])
		default:
			segs = append(segs, all[:len(all)-1]...)
		}
	}
	if len(segs) == 0 {
		w.t.Logf("chaos: damage: gateway%d has no segment to damage", g)
		return
	}
	path := segs[param%len(segs)]
	b, err := os.ReadFile(path)
	if err != nil {
		w.t.Logf("chaos: damageseg: %v", err)
		return
	}
	offs, payloads := walRecords(b)
	if len(offs) == 0 {
		w.t.Logf("chaos: damageseg: %s has no record", path)
		return
	}
	sig := sigOfDir(filepath.Base(filepath.Dir(path)))
	d := damaged{path: path, size: int64(len(b))}
	for _, p := range payloads {
		keys, _ := keysOfProto(sig, p)
		d.keys = append(d.keys, keys...)
	}
	w.mu.Lock()
	for _, k := range d.keys {
		w.setAside[k] = true
	}
	w.damaged = append(w.damaged, d)
	w.mu.Unlock()
	r := (param / 7) % len(offs)
	if tail {
		r = len(offs) - 1
	}
	b[offs[r]+24+len(payloads[r])/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		w.t.Logf("chaos: damageseg: %v", err)
	}
	w.t.Logf("chaos: damaged record %d of %d in %s", r+1, len(offs), path)
}

// damaged is a segment a damage fault hit, and the items it held.
type damaged struct {
	path string
	size int64 // the segment's size when damaged
	keys []string
}

// checkDamaged: the items of a damaged segment that did not reach the
// backend must still be on disk: the segment moved into corrupt/ beside it.
func (w *world) checkDamaged() []string {
	w.mu.Lock()
	ds := append([]damaged(nil), w.damaged...)
	w.mu.Unlock()
	var bad []string
	for _, d := range ds {
		missing := 0
		for _, k := range d.keys {
			if !w.backend.Has(k) {
				missing++
			}
		}
		if missing == 0 {
			continue
		}
		kept, _ := filepath.Glob(filepath.Join(filepath.Dir(d.path), "corrupt", filepath.Base(d.path)+"*"))
		if len(kept) > 0 {
			continue
		}
		switch fi, err := os.Stat(d.path); {
		case err != nil:
			bad = append(bad, fmt.Sprintf("damaged segment %s: %d of its items undelivered, and the segment is neither in place nor in corrupt/",
				d.path, missing))
		case fi.Size() < d.size:
			bad = append(bad, fmt.Sprintf("damaged segment %s: %d of its items undelivered, and the segment was cut from %d to %d bytes (not kept in corrupt/)",
				d.path, missing, d.size, fi.Size()))
		}
	}
	return bad
}

// damageCheckpoint truncates, flips or overwrites the checkpoint of every
// signal of gateway g (stopped): at worst, more is replayed.
func (w *world) damageCheckpoint(g, param int) {
	for _, sig := range signals {
		path := filepath.Join(w.procs[g].dir, "wal", signalName(sig), "checkpoint")
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		switch param % 3 {
		case 0:
			b = b[:len(b)/2]
		case 1:
			b[len(b)/2] ^= 0x01
		default:
			for i := range b {
				b[i] = 0xff
			}
		}
		_ = os.WriteFile(path, b, 0o600)
	}
}

func sigOfDir(name string) string {
	switch name {
	case "traces":
		return sigTraces
	case "metrics":
		return sigMetrics
	default:
		return sigLogs
	}
}
