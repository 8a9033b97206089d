package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// StateDirKeys returns the --set key paths (a::b::directory) of every
// absolute `directory` in config that lies outside the temporary directory:
// the queue, write-ahead log, dead letter and quarantine that the shipped
// configs keep under /var/lib. A test that runs such a config must move each
// of them (StateSets), or it writes to the machine's own state directory and
// leaves it behind for the next test, or for an installed package.
func StateDirKeys(config string) ([]string, error) {
	raw, err := os.ReadFile(config)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := k
			if prefix != "" {
				path = prefix + "::" + k
			}
			switch v := v.(type) {
			case map[string]any:
				walk(path, v)
			case string:
				if k == "directory" && filepath.IsAbs(v) && !strings.HasPrefix(v, os.TempDir()) {
					keys = append(keys, path)
				}
			}
		}
	}
	walk("", doc)
	sort.Strings(keys)
	return keys, nil
}

// StateSets returns the --set overrides that move every state directory of
// config (see StateDirKeys) under dir, one subdirectory each.
func StateSets(t testing.TB, config, dir string) []string {
	t.Helper()
	keys, err := StateDirKeys(config)
	if err != nil {
		t.Fatalf("state directories: %v", err)
	}
	sets := make([]string, 0, len(keys))
	for _, k := range keys {
		sub := strings.NewReplacer("::", "_", "/", "_").Replace(strings.TrimSuffix(k, "::directory"))
		sets = append(sets, k+"="+filepath.Join(dir, sub))
	}
	return sets
}

// checkStateMoved fails the test when a state directory of config is not
// overridden by sets: the collector would write under /var/lib.
func checkStateMoved(t TB, config string, sets []string) {
	t.Helper()
	keys, err := StateDirKeys(config)
	if err != nil {
		t.Fatalf("state directories: %v", err)
	}
	for _, k := range keys {
		moved := false
		for _, s := range sets {
			if strings.HasPrefix(s, k+"=") {
				moved = true
				break
			}
		}
		if !moved {
			t.Fatalf("%s keeps state in %s outside the test's directories: add harness.StateSets (or --set %s=...)",
				filepath.Base(config), k, k)
		}
	}
}

// GatewaySets returns the --set overrides that run configs/gateway.yaml on
// this machine against a loopback Sink: its write-ahead log and dead letter
// under dir (dir/wal, dir/deadletter), plaintext to the sink, and no drain
// delay at shutdown (no load balancer is in front to drain). Start fails a
// test whose sets leave a state directory of the config where it is.
func GatewaySets(dir string) []string {
	return []string{
		"exporters::otlp_retry::persistent_queue::directory=" + filepath.Join(dir, "wal"),
		"exporters::otlp_retry::dead_letter::directory=" + filepath.Join(dir, "deadletter"),
		"exporters::otlp_retry::tls::insecure=true",
		"extensions::health::drain_delay=0s",
	}
}

// ServiceExtensions returns config's service::extensions, in order: what
// a test that appends an extension (pprof) must keep.
func ServiceExtensions(config string) ([]string, error) {
	raw, err := os.ReadFile(config)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Service struct {
			Extensions []string `yaml:"extensions"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	return doc.Service.Extensions, nil
}
