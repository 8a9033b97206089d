package guardedfilestorage

import (
	"errors"
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
}

// Validate checks the guard's own key, then upstream's.
func (c *Config) Validate() error {
	if c.CheckTimeout <= 0 {
		return errors.New("check_timeout must be positive")
	}
	return c.Config.Validate()
}
