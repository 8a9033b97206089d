package otlpretryexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// Defaults of persistent_queue.
const (
	defaultWALMaxBytes      = 1 << 30
	defaultWALMemoryBudget  = 64 << 20
	defaultWALSegmentBytes  = wal.DefaultSegmentBytes
	defaultWALFsyncInterval = wal.DefaultFsyncInterval
	defaultWALDrainTimeout  = 10 * time.Second
	defaultWALBatchTimeout  = 50 * time.Millisecond
	// walBatchBytes bounds a batch cut from the log below the 4 MiB that
	// gRPC servers accept by default (a single larger record goes alone).
	walBatchBytes = 3 << 20
)

// PersistentQueueConfig configures otlp_retry's own write-ahead log, used
// instead of sending_queue when directory is set.
type PersistentQueueConfig struct {
	// Directory holds the log, one subdirectory per signal. Empty (the
	// default) leaves the exporter on sending_queue.
	Directory string `mapstructure:"directory"`
	// Fsync is always (OK to the client only after fdatasync; concurrent
	// requests share one), interval (OK once in the page cache, flushed
	// every fsync_interval) or never. Default always.
	Fsync string `mapstructure:"fsync"`
	// FsyncInterval is the flush period of fsync: interval (default 200ms).
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// MaxBytes bounds the log of each signal; when full, new data is
	// refused with a retryable error (default 1 GiB).
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MemoryBudget is how many bytes of not yet exported requests stay in
	// memory; beyond it they are read back from disk (default 64 MiB).
	MemoryBudget int64 `mapstructure:"memory_budget"`
	// SegmentBytes is the size of one segment file (default 64 MiB, at
	// most a quarter of max_bytes).
	SegmentBytes int64 `mapstructure:"segment_bytes"`
	// NumConsumers is the number of batches exported concurrently (default 10).
	NumConsumers int `mapstructure:"num_consumers"`
	// BatchSize is the most items a batch cut from the log holds (default
	// 1000; a larger single request is sent alone).
	BatchSize int `mapstructure:"batch_size"`
	// BatchTimeout is how long a batch short of batch_size waits for more
	// records before it is sent (default 50ms; 0 sends what the log holds
	// at once). Clients are answered when their request is in the log, so
	// it only delays delivery; small requests then leave in batches
	// instead of one export each.
	BatchTimeout time.Duration `mapstructure:"batch_timeout"`
	// DrainTimeout is how long shutdown keeps exporting the log while the
	// backend accepts; what is left stays on disk (default 10s).
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// LiveFirst, for traces only: while a backlog waits in the log (after
	// a backend outage), spans that arrive are sent before it, within
	// memory_budget, and the backlog drains with the capacity left, so
	// that dashboards show the present during the catch-up. Batches then
	// leave out of arrival order, which tracing backends do not need;
	// metrics and logs keep their order. Default false.
	LiveFirst bool `mapstructure:"live_first"`

	_ struct{}
}

func defaultPersistentQueueConfig() PersistentQueueConfig {
	return PersistentQueueConfig{
		Fsync:         string(wal.FsyncAlways),
		FsyncInterval: defaultWALFsyncInterval,
		MaxBytes:      defaultWALMaxBytes,
		MemoryBudget:  defaultWALMemoryBudget,
		SegmentBytes:  defaultWALSegmentBytes,
		NumConsumers:  defaultNumConsumers,
		BatchSize:     defaultBatchSize,
		BatchTimeout:  defaultWALBatchTimeout,
		DrainTimeout:  defaultWALDrainTimeout,
	}
}

func (c *PersistentQueueConfig) enabled() bool { return c.Directory != "" }

// LargestLogRequest is the largest request, marshalled as OTLP protobuf,
// that the write-ahead log of an otlp_retry config takes (ok false: the
// config has no log, or is not otlp_retry's). A larger request is refused
// as permanent, which clients drop: the receivers in front must not accept
// one (components/converter/configcheck refuses such a config as it loads).
func LargestLogRequest(cfg component.Config) (largest int64, ok bool) {
	c, isOurs := cfg.(*Config)
	if !isOurs || !c.PersistentQueue.enabled() {
		return 0, false
	}
	return wal.LargestPayload(c.PersistentQueue.MaxBytes), true
}

// LogBytesFor is the least persistent_queue::max_bytes whose log takes a
// request of n bytes (ok false: none does, n is over the largest record).
func LogBytesFor(n int64) (maxBytes int64, ok bool) {
	return wal.MaxBytesFor(n)
}

// Validate checks persistent_queue when it is in use; confmap.Validate
// prefixes the section key. Its clash with sending_queue::storage is checked
// by Config.Validate.
func (c *PersistentQueueConfig) Validate() error {
	if !c.enabled() {
		return nil
	}
	var errs []error
	switch wal.FsyncMode(c.Fsync) {
	case wal.FsyncAlways, wal.FsyncInterval, wal.FsyncNever:
	default:
		errs = append(errs, fmt.Errorf("fsync: %q is not one of always, interval, never", c.Fsync))
	}
	if c.Fsync == string(wal.FsyncInterval) && c.FsyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("fsync_interval: must be positive, got %s", c.FsyncInterval))
	}
	if c.MaxBytes < minWALBytes {
		errs = append(errs, fmt.Errorf("max_bytes: at least %d (32 MiB) to hold the largest request a receiver accepts, got %d",
			minWALBytes, c.MaxBytes))
	}
	if c.MemoryBudget < 0 {
		errs = append(errs, fmt.Errorf("memory_budget: must not be negative, got %d", c.MemoryBudget))
	}
	if c.SegmentBytes < 0 {
		errs = append(errs, fmt.Errorf("segment_bytes: must not be negative, got %d", c.SegmentBytes))
	}
	if c.NumConsumers < 1 || c.NumConsumers > maxNumConsumers {
		errs = append(errs, fmt.Errorf("num_consumers: must be 1 to %d, got %d (each consumer holds a batch of up to 3 MiB in flight)",
			maxNumConsumers, c.NumConsumers))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch_size: must be at least 1, got %d", c.BatchSize))
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch_timeout: must not be negative, got %s", c.BatchTimeout))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain_timeout: must not be negative, got %s", c.DrainTimeout))
	}
	return joinSection(errs)
}

// errBothQueues: the write-ahead log and upstream's persistent queue would
// each hold the data; one of them must go.
var errBothQueues = errors.New("persistent_queue and sending_queue::storage: both set; use one persistent queue " +
	"(remove sending_queue::storage to use persistent_queue, or persistent_queue::directory to keep upstream's queue)")
