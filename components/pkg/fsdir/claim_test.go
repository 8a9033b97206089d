package fsdir

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClaimRefusesAnotherKeysDirectory(t *testing.T) {
	root := t.TempDir()
	dl := filepath.Join(root, "deadletter")
	a := "exporters::otlp_retry/a::quarantine::directory"
	b := "exporters::otlp_retry/b::dead_letter::directory"

	relA, err := Claim(a, dl)
	require.NoError(t, err)
	// The same key again (another signal of one exporter) shares the claim.
	relA2, err := Claim(a, dl+"/")
	require.NoError(t, err)

	_, err = Claim(b, dl+"/../deadletter/")
	require.EqualError(t, err, b+`: "`+dl+`/../deadletter/" is the same directory as `+a+` ("`+dl+`"): each store needs its own directory`)
	_, err = Claim(b, filepath.Join(dl, "x"))
	require.ErrorContains(t, err, "is inside "+a)
	_, err = Claim(b, root)
	require.ErrorContains(t, err, "contains "+a)
	relB, err := Claim(b, dl+"-sibling")
	require.NoError(t, err, "a sibling sharing a prefix is not nested")
	relB()

	// The claim stays until its last holder releases it; a release called
	// twice counts once.
	relA()
	relA()
	_, err = Claim(b, dl)
	require.Error(t, err)
	relA2()
	relB, err = Claim(b, dl)
	require.NoError(t, err)
	relB()
}
