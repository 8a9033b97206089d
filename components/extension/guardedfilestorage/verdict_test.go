package guardedfilestorage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// upstreamEnv makes the test binary, run again, open a directory with
// upstream file_storage the way an exporter's queue does (compaction on
// start included) and read back every item fillStore wrote.
const upstreamEnv = "OTLPCOL_TEST_UPSTREAM_OPEN"

func init() {
	if dir := os.Getenv(upstreamEnv); dir != "" {
		if err := upstreamOpen(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func upstreamOpen(dir string) error {
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory, cfg.Compaction.Directory, cfg.Compaction.OnStart = dir, dir, true
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		return err
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		return err
	}
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, queueID, "traces")
	if err != nil {
		return err
	}
	for i := range 300 {
		if _, err := c.Get(context.Background(), fmt.Sprint(i)); err != nil {
			return err
		}
	}
	return c.Close(context.Background())
}

// TestHealthyVerdictIsSafeForUpstream is the guard's promise: a file it
// lets through does not stop upstream file_storage. Random damage (one page
// overwritten, or a few bytes flipped) on a real queue file; every file
// judged healthy is opened by upstream file_storage in a child process,
// which must not crash.
func TestHealthyVerdictIsSafeForUpstream(t *testing.T) {
	page := int64(os.Getpagesize())
	verdicts := map[verdict]int{}
	for seed := range uint64(40) {
		dir := t.TempDir()
		path := fillStore(t, dir, 300)
		size := fileSize(t, path)
		r := rand.New(rand.NewPCG(seed, 7))
		if seed%2 == 0 {
			from := page * (2 + r.Int64N(size/page-2))
			overwrite(t, path, from, from+page, seed)
		} else {
			for range 1 + r.IntN(8) {
				off := 2*page + r.Int64N(size-2*page)
				overwrite(t, path, off, off+1, seed)
			}
		}
		v, said := checkFile(context.Background(), path, time.Minute)
		verdicts[v]++
		if v != healthy {
			continue
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), upstreamEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "seed %d: judged healthy (%s), but upstream file_storage failed on it:\n%s", seed, said, summary(string(out)))
	}
	t.Logf("40 damaged files: %d set aside, %d healthy (opened by upstream without a crash), %d not judged",
		verdicts[damaged], verdicts[healthy], verdicts[unchecked])
	require.Positive(t, verdicts[damaged], "no damage was found: the test damages nothing")
	require.Zero(t, verdicts[unchecked])
}
