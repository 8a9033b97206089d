package configcheck

import (
	"errors"
	"sort"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter"
	"github.com/otlpcol/otlpcol/components/extension/guardedfilestorage"
	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// Two components keeping state in one directory, or one inside the other,
// read or delete each other's files: one otlp_retry's dead letter as
// another's quarantine shares one store (quarantined data is replayed in a
// loop), a file_storage directory inside a write-ahead log is read as the
// log's files. Each otlp_retry refuses its own overlapping directories in
// Validate; the components also claim their directories at start
// (fsdir.Claim), which catches what this check cannot read. This check
// adds upstream file_storage, which does not claim, and `otlpcol validate`.

var (
	fileStorageType        = component.MustNewType("file_storage")
	guardedFileStorageType = component.MustNewType("guarded_file_storage")
)

// checkStateDirs claims, in a registry of its own, the directory of every
// storage extension the service runs, then the state directories of every
// otlp_retry exporter a pipeline uses (the order the collector starts them
// in), each read with its factory's defaults. Components that are
// configured but not used start nothing and are not compared.
func checkStateDirs(conf *confmap.Conf) error {
	var reg fsdir.Registry
	var errs []error
	claim := func(key, path string) {
		if _, err := reg.Claim(key, path); err != nil {
			errs = append(errs, err)
		}
	}
	exts := conf.Get("service::extensions")
	for _, id := range sorted(ids(exts, fileStorageType)) {
		cfg, ok := filestorage.NewFactory().CreateDefaultConfig().(*filestorage.Config)
		if ok && read(conf, "extensions::"+id, cfg) && cfg.Directory != "" {
			claim("extensions::"+id+"::directory", cfg.Directory)
		}
	}
	for _, id := range sorted(ids(exts, guardedFileStorageType)) {
		cfg, ok := guardedfilestorage.NewFactory().CreateDefaultConfig().(*guardedfilestorage.Config)
		if ok && read(conf, "extensions::"+id, cfg) && cfg.Directory != "" {
			claim("extensions::"+id+"::directory", cfg.Directory)
		}
	}
	names, byName := pipelines(conf)
	seen := map[string]bool{}
	var exporters []string
	for _, name := range names {
		for _, id := range ids(byName[name]["exporters"], otlpRetryType) {
			if !seen[id] {
				seen[id] = true
				exporters = append(exporters, id)
			}
		}
	}
	for _, id := range sorted(exporters) {
		cfg := otlpretryexporter.NewFactory().CreateDefaultConfig()
		if !read(conf, "exporters::"+id, cfg) {
			continue
		}
		for _, d := range otlpretryexporter.StateDirectories(cfg) {
			claim("exporters::"+id+"::"+d.Key, d.Path)
		}
	}
	return errors.Join(errs...)
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
