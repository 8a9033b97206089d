// Package configcheck is a confmap converter built into otlpcol that checks
// what no component's Validate can, since each sees only its own config:
// relations between components of one configuration. It sees the whole
// configuration (after ${env:...} and --set), so `otlpcol validate` and
// start both fail on it, naming the keys of both components. It changes
// nothing in the configuration. The checks:
//
//   - requestfit.go: no otlp receiver accepts a request larger than the
//     write-ahead log of an otlp_retry exporter in its pipeline holds;
//   - statedirs.go: no two components keep state in the same directory, or
//     one inside the other.
//
// A configuration it cannot read (an unknown key, a pipeline naming an
// undefined component) is left to the collector's own validation, which
// names the fault.
package configcheck

import (
	"context"
	"errors"
	"sort"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// NewFactory returns the converter's factory, for the distribution's
// builder-config.yaml (converters).
func NewFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return converter{} })
}

type converter struct{}

func (converter) Convert(_ context.Context, conf *confmap.Conf) error {
	return errors.Join(checkRequestFit(conf), checkStateDirs(conf))
}

// pipelines returns the configuration's pipelines by name, sorted, each as
// its map of lists (receivers, processors, exporters).
func pipelines(conf *confmap.Conf) ([]string, map[string]map[string]any) {
	sub, err := conf.Sub("service::pipelines")
	if err != nil {
		return nil, nil
	}
	byName := map[string]map[string]any{}
	var names []string
	for name, v := range sub.ToStringMap() {
		if p, ok := v.(map[string]any); ok {
			byName[name] = p
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, byName
}

// ids returns the component IDs in a list (a pipeline's, or
// service::extensions) that are of type typ.
func ids(list any, typ component.Type) []string {
	items, _ := list.([]any)
	var out []string
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			continue
		}
		var id component.ID
		if id.UnmarshalText([]byte(s)) == nil && id.Type() == typ {
			out = append(out, s)
		}
	}
	return out
}

// read unmarshals the config at key into cfg, a factory's default config
// (false: absent or unreadable).
func read(conf *confmap.Conf, key string, cfg component.Config) bool {
	sub, err := conf.Sub(key)
	return err == nil && sub.Unmarshal(cfg) == nil
}
