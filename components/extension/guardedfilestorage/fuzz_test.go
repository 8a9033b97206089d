package guardedfilestorage

import (
	"testing"

	"github.com/otlpcol/otlpcol/components/pkg/configfuzz"
)

// FuzzConfigUnmarshal decodes arbitrary YAML as the extension's config, as
// the collector does with a user's file: it must return an error or a
// config whose Validate does not panic, never crash.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.Run(f, []string{
		"directory: /tmp\ncheck_timeout: 30s\n",
		"directory: /tmp\ncreate_directory: true\ndirectory_permissions: '0750'\nfsync: true\n",
		"directory: /tmp\ncompaction:\n  on_start: true\n  on_rebound: true\n  directory: /tmp\n  check_interval: 0s\n",
		"directory: /nonexistent\nmax_size: -1\ncheck_timeout: -1s\n",
		"directory: /tmp\ncreate_directory: true\ndirectory_permissions: '9999'\n",
		"[]", "check_timeout: [1]", "compaction: 3",
	}, createDefaultConfig)
}
