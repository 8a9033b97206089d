package guardedfilestorage

import (
	"errors"
	"fmt"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
)

// Config is upstream file_storage's configuration, every key unchanged, plus
// how long the check of one file at start may take.
type Config struct {
	filestorage.Config `mapstructure:",squash"`

	// CheckTimeout bounds the check of one database file at start. A check
	// that does not finish in time is treated as damage (an endless walk is
	// what some damaged page graphs cause): the file is set aside.
	CheckTimeout time.Duration `mapstructure:"check_timeout"`

	// FreeSpaceReserveMiB is the free space kept on the storage volume for
	// recording dispatches, deleting delivered items and compaction: new
	// data is refused (retryably) below it. 0 turns it off.
	FreeSpaceReserveMiB int64 `mapstructure:"free_space_reserve_mib"`
}

// Validate checks the guard's own key, then upstream's.
func (c *Config) Validate() error {
	var errs []error
	if c.CheckTimeout <= 0 {
		errs = append(errs, errors.New("check_timeout must be positive"))
	}
	if c.FreeSpaceReserveMiB < 0 {
		errs = append(errs, fmt.Errorf("free_space_reserve_mib must not be negative, got %d", c.FreeSpaceReserveMiB))
	}
	// Compaction on rebound copies up to rebound_trigger_threshold_mib of
	// live data next to the file: the reserve must hold that copy.
	if c.FreeSpaceReserveMiB > 0 && c.Compaction != nil && c.Compaction.OnRebound &&
		c.FreeSpaceReserveMiB < 2*c.Compaction.ReboundTriggerThresholdMiB {
		errs = append(errs, fmt.Errorf("free_space_reserve_mib (%d) must be at least twice compaction::rebound_trigger_threshold_mib (%d): compaction copies that much live data",
			c.FreeSpaceReserveMiB, c.Compaction.ReboundTriggerThresholdMiB))
	}
	errs = append(errs, c.Config.Validate())
	return errors.Join(errs...)
}
