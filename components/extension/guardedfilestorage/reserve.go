package guardedfilestorage

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpcol/otlpcol/components/pkg/observe"
)

// retryAfter is the delay a refusal for want of disk space asks clients to
// wait (gRPC RetryInfo, HTTP Retry-After): room comes back only as the
// exporters deliver, seconds at best.
const retryAfter = 5 * time.Second

// reserve keeps free space on the storage volume for what must never fail
// there: the writes with which upstream's persistent queue records a
// dispatch and deletes a delivered item (exporterhelper v0.161.0 drops an
// item whose dispatch it cannot record, persistent_queue.go:416), and
// compaction's copy. New data is refused, retryably, while the volume's
// free space is below it:
//   - at the receivers (admission.go), before the request reaches the
//     queue: upstream's queue counts an item before it writes it and never
//     uncounts it when the write fails, so a refusal there would leave its
//     queue_size wrong until the queue drains;
//   - in the storage client (backstop.go), at half the reserve, for what
//     was admitted before the volume crossed the line.
type reserve struct {
	dir    string
	bytes  uint64
	logger *zap.Logger
	statfs func(string) (uint64, error)

	refused atomic.Int64 // requests refused at the receivers
	blocked atomic.Int64 // queue writes refused by the backstop
	low     atomic.Bool  // below the reserve at the last look (logs once per stretch)

	registration metric.Registration
}

func newReserve(dir string, mib int64, logger *zap.Logger) *reserve {
	return &reserve{dir: dir, bytes: uint64(mib) << 20, logger: logger, statfs: freeBytes}
}

// freeBytes is what an unprivileged writer may still write on the file
// system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// enabled is false with free_space_reserve_mib 0: upstream's behaviour.
func (r *reserve) enabled() bool { return r != nil && r.bytes > 0 }

// room reports whether new data may be written while at least need bytes
// stay free, with the free space seen. A volume that cannot be read is
// not refused for: the writes would tell.
func (r *reserve) room(need uint64) (bool, uint64) {
	free, err := r.statfs(r.dir)
	if err != nil {
		r.logger.Debug("cannot read the free space of the storage volume", zap.String("directory", r.dir), zap.Error(err))
		return true, 0
	}
	ok := free >= need
	if !ok && r.low.CompareAndSwap(false, true) {
		r.logger.Warn("storage volume below its free-space reserve: new data is refused (retryable) until deliveries free room",
			zap.String("directory", r.dir), zap.Uint64("free_bytes", free), zap.Uint64("reserve_bytes", r.bytes))
	} else if ok && free >= r.bytes && r.low.CompareAndSwap(true, false) {
		r.logger.Info("storage volume above its free-space reserve again: new data is accepted",
			zap.String("directory", r.dir), zap.Uint64("free_bytes", free))
	}
	return ok, free
}

// checkVolume warns about a volume too small for the reserve to let go:
// bbolt never shrinks a file, so once a queue file has filled the volume
// down to the reserve, room comes back only when compaction on rebound
// rewrites the drained file, which it does only for a file of
// rebound_needed_threshold_mib or more. (Compaction on start does it too.)
func (r *reserve) checkVolume(cfg *Config) {
	if !r.enabled() {
		return
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.dir, &st); err != nil {
		return
	}
	total := st.Blocks * uint64(st.Bsize)
	need := r.bytes
	if c := cfg.Compaction; c != nil && c.OnRebound {
		need += uint64(c.ReboundNeededThresholdMiB) << 20
	}
	if c := cfg.Compaction; c == nil || !c.OnRebound || total < need {
		r.logger.Warn("after the queue files fill this volume down to free_space_reserve_mib, new data stays refused until a restart compacts them: "+
			"turn on compaction::on_rebound and keep the volume larger than free_space_reserve_mib + compaction::rebound_needed_threshold_mib",
			zap.String("directory", r.dir), zap.Uint64("volume_bytes", total), zap.Uint64("needed_bytes", need))
	}
}

// errNoRoom is what a refused request or write returns.
func (r *reserve) errNoRoom(free uint64) error {
	return &noRoomError{msg: fmt.Sprintf("%s: %d bytes free on the volume of %s, %d reserved for deliveries (free_space_reserve_mib)",
		errDiskReserve, free, r.dir, r.bytes)}
}

var errDiskReserve = errors.New("storage volume below its free-space reserve")

// noRoomError is errDiskReserve with its gRPC answer: Unavailable with
// RetryInfo. The receivers find it through any wrapping (status.FromError),
// also when the backstop's refusal comes back up through upstream's queue
// and exporter; the HTTP receiver turns Unavailable into 503.
type noRoomError struct{ msg string }

func (e *noRoomError) Error() string { return e.msg }

func (e *noRoomError) Unwrap() error { return errDiskReserve }

func (e *noRoomError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
		return d
	}
	return st
}

func (r *reserve) register(mp metric.MeterProvider) error {
	reg, err := observe.Register(mp.Meter(scope),
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_free_bytes",
			Description: "Free bytes on the storage volume, as statfs reports them to an unprivileged writer.",
			Unit:        "By",
			Read: func() (int64, bool) {
				f, err := r.statfs(r.dir)
				return int64(min(f, 1<<62)), err == nil
			},
		},
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_reserve_bytes",
			Description: "Free space kept for deliveries and compaction (free_space_reserve_mib); new data is refused below it.",
			Unit:        "By",
			Read:        observe.Value(func() int64 { return int64(r.bytes) }),
		},
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_refused_requests",
			Description: "Requests refused at the receivers (retryable) because the storage volume was below its reserve.",
			Unit:        "{requests}",
			Kind:        observe.Counter,
			Read:        observe.Value(r.refused.Load),
		},
		observe.Int64{
			Name:        "otelcol_guarded_file_storage_refused_writes",
			Description: "Queue writes refused (retryable) in the storage client below half the reserve.",
			Unit:        "{writes}",
			Kind:        observe.Counter,
			Read:        observe.Value(r.blocked.Load),
		})
	if err != nil {
		return err
	}
	r.registration = reg
	return nil
}

func (r *reserve) unregister() {
	if r != nil && r.registration != nil {
		_ = r.registration.Unregister()
	}
}
