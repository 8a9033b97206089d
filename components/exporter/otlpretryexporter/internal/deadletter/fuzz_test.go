package deadletter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseName feeds file names found in the dead-letter directory, which
// an operator may have copied, renamed or damaged. Accepted names carry a
// known signal, a three-part age/sequence/items stem and the .pb suffix.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"1764072000000000000-1-20.traces.pb", "1764072000000000000-2-5.metrics.pb", "1-1-1.logs.pb",
		"1-1-x.traces.pb", "1-1.traces.pb", "1-1-1-1.traces.pb", "1-1-1.profiles.pb", "1-1-1.traces.pb.tmp",
		".pb", "traces.pb", "--.traces.pb", "1-1--5.traces.pb", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, ok := parseName(name)
		if !ok {
			return
		}
		if e.Name != name || !strings.HasSuffix(name, suffix) {
			t.Fatalf("parseName(%q) = %+v", name, e)
		}
		if e.Signal != Traces && e.Signal != Metrics && e.Signal != Logs {
			t.Fatalf("parseName(%q): signal %q", name, e.Signal)
		}
		stem := strings.TrimSuffix(strings.TrimSuffix(name, suffix), "."+e.Signal)
		parts := strings.Split(stem, "-")
		if n, err := strconv.Atoi(parts[len(parts)-1]); len(parts) != 3 || err != nil || n != e.Items || n < 0 {
			t.Fatalf("parseName(%q): items %d from %q", name, e.Items, stem)
		}
	})
}

// FuzzReplayDir puts one file of any name and content into a dead-letter
// directory and replays it: opening and replaying never crash, a file with
// a valid name is sent with exactly its bytes and then removed, any other
// file is left alone.
func FuzzReplayDir(f *testing.F) {
	f.Add("1764072000000000000-1-20.traces.pb", []byte("\x0a\x00"))
	f.Add("1-1-1.logs.pb", []byte{})
	f.Add("junk.txt", []byte("hello"))
	f.Add("1-1-1.traces.pb.tmp", []byte("half written"))
	f.Add("1-1-x.metrics.pb", []byte{0xff})
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 200 {
			return
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			return
		}
		sent := 0
		st, err := replayDir(context.Background(), dir, func(_ context.Context, e Entry, payload []byte) error {
			sent++
			if e.Name != name || !bytes.Equal(payload, body) {
				t.Fatalf("replayed %q with %d bytes, wrote %q with %d", e.Name, len(payload), name, len(body))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		_, valid := parseName(name)
		_, statErr := os.Stat(filepath.Join(dir, name))
		switch {
		case valid && (sent != 1 || st.Files != 1 || statErr == nil):
			t.Fatalf("valid %q: sent %d, stats %+v, still there: %v", name, sent, st, statErr == nil)
		case !valid && sent != 0:
			t.Fatalf("invalid %q was sent", name)
		case !valid && !strings.HasSuffix(name, tmpSuffix) && statErr != nil:
			t.Fatalf("invalid %q was removed", name)
		}
	})
}
