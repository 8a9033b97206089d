package harness

import (
	"strings"
	"testing"
)

// Every shipped config's state directories are found, so a test that forgets
// one fails at start instead of writing under /var/lib.
func TestStateDirKeysOfShippedConfigs(t *testing.T) {
	for _, name := range []string{"gateway.yaml", "agent.yaml", "agent-host.yaml"} {
		keys, err := StateDirKeys(Config(name))
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Errorf("%s: no state directory found", name)
		}
		sets := StateSets(t, Config(name), t.TempDir())
		for i, k := range keys {
			if !strings.HasPrefix(sets[i], k+"=/") {
				t.Errorf("%s: override %q does not move %s", name, sets[i], k)
			}
		}
		t.Logf("%s: %v", name, keys)
	}
}

// GatewaySets moves every state directory of configs/gateway.yaml: when the
// config gains one, this fails until GatewaySets moves it too.
func TestGatewaySetsMoveEveryStateDirectory(t *testing.T) {
	keys, err := StateDirKeys(Config("gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sets := GatewaySets(t.TempDir())
	for _, k := range keys {
		moved := false
		for _, s := range sets {
			moved = moved || strings.HasPrefix(s, k+"=/")
		}
		if !moved {
			t.Errorf("GatewaySets does not move %s", k)
		}
	}
	ext, err := ServiceExtensions(Config("gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ext) == 0 {
		t.Error("configs/gateway.yaml: no service::extensions read")
	}
}
