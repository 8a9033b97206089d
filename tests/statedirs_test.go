package tests

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestStateDirectoriesAcrossComponents: each component's Validate sees only
// its own config, so two components of one collector naming one state
// directory would each pass. `otlpcol validate` and start-up must fail,
// with the keys of both and the reason, before either writes: one
// otlp_retry's dead letter as another's quarantine would share one store
// (quarantined data replayed in a loop), and a file_storage directory
// inside a dead letter would be read as spool files. The distribution's
// configcheck converter refuses them as the configuration loads; the
// components' claims at start (fsdir.Claim) are tested in process
// (otlpretryexporter.TestStateDirectoriesClaimedAtStart).
func TestStateDirectoriesAcrossComponents(t *testing.T) {
	bin := harness.Binary(t)
	cases := []struct {
		name string
		set  func(state string) []string
		want []string // every string must appear in the output
	}{
		{
			"dead letter is another exporter's quarantine",
			func(state string) []string {
				// The default quarantine of a is a-deadletter-quarantine;
				// b names it with a trailing slash, and sizes it as the
				// quarantine's default (64 MiB), so that the two stores
				// agree and would be shared as one.
				return []string{
					"exporters::otlp_retry/b::dead_letter::directory=" + state + "/a-deadletter-quarantine/",
					"exporters::otlp_retry/b::dead_letter::max_bytes=67108864",
				}
			},
			// The exporters start in either order: whichever claims second
			// names the other.
			[]string{
				"exporters::otlp_retry/b::dead_letter::directory", "exporters::otlp_retry/a::quarantine::directory",
				"is the same directory as", "each store needs its own directory",
			},
		},
		{
			"two exporters on one log",
			func(state string) []string {
				return []string{"exporters::otlp_retry/b::persistent_queue::directory=" + state + "/./a-wal"}
			},
			[]string{
				"exporters::otlp_retry/b::persistent_queue::directory", "exporters::otlp_retry/a::persistent_queue::directory",
				"is the same directory as", "each store needs its own directory",
			},
		},
		{
			"upstream file_storage directory inside a dead letter",
			func(state string) []string {
				return []string{
					"extensions::file_storage/q::directory=" + state + "/b-deadletter/fs",
					"extensions::file_storage/q::create_directory=true",
					"service::extensions=[guarded_file_storage/queue,file_storage/q]",
				}
			},
			[]string{
				`exporters::otlp_retry/b::dead_letter::directory: "` + "STATE" + `/b-deadletter" contains ` +
					`extensions::file_storage/q::directory ("` + "STATE" + `/b-deadletter/fs")`,
				"state directories must not be nested",
			},
		},
		{
			"guarded_file_storage directory inside a dead letter",
			func(state string) []string {
				return []string{"extensions::guarded_file_storage/queue::directory=" + state + "/b-deadletter/queue"}
			},
			// Extensions are claimed first, as they start first.
			[]string{
				`exporters::otlp_retry/b::dead_letter::directory: "` + "STATE" + `/b-deadletter" contains ` +
					`extensions::guarded_file_storage/queue::directory ("` + "STATE" + `/b-deadletter/queue")`,
				"state directories must not be nested",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			args := []string{"--config", "testdata/otlp_retry_two.yaml"}
			for _, s := range tc.set(state) {
				args = append(args, "--set", s)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"validate"}, args...)...)
			cmd.Env = append(cmd.Environ(), "STATE_DIR="+state)
			vout, err := cmd.CombinedOutput()
			require.Error(t, err, "validate passed:\n%s", vout)

			out, started := runUntilReady(t, bin, args, "STATE_DIR="+state)
			require.False(t, started, "the collector started:\n%s", out)
			t.Logf("refused: %s", lastLine(out))
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "STATE", state)
				require.Contains(t, string(vout), w, "validate should name both keys and the reason:\n%s", lastLine(string(vout)))
				require.Contains(t, out, w, "start should name both keys and the reason:\n%s", lastLine(out))
			}
		})
	}

	// The same file with its own directories starts: the failures above are
	// the collisions, nothing else in it.
	t.Run("apart", func(t *testing.T) {
		state := t.TempDir()
		out, started := runUntilReady(t, bin, []string{"--config", "testdata/otlp_retry_two.yaml"}, "STATE_DIR="+state)
		require.True(t, started, "the collector did not start:\n%s", out)
		require.DirExists(t, filepath.Join(state, "a-deadletter-quarantine"))
	})
}

// runUntilReady runs otlpcol until it exits or logs that it is ready (then
// stops it), within 30 s, and returns its output and whether it was ready.
func runUntilReady(t *testing.T, bin string, args []string, env ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = cmd.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var out strings.Builder
	ready := false
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Everything is ready") {
			ready = true
			_ = cmd.Process.Kill()
			break
		}
	}
	_ = cmd.Wait()
	require.NotEqual(t, context.DeadlineExceeded, ctx.Err(), "otlpcol neither failed nor became ready in 30 s:\n%s", out.String())
	return out.String(), ready
}
