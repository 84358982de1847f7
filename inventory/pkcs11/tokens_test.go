package pkcs11

import (
	"encoding/json"
	"testing"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

// TestResultRecordsTokens: the source status names each token read, with
// its model and versions, so a later read can tell a replaced or
// re-initialised device; a status without them still decodes.
func TestResultRecordsTokens(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	h.InitToken("alpha", "1111").GenKeyPair("EC:prime256v1", "a1", "01")
	h.InitToken("beta", "1111")

	s, err := open(t, uriFor(h, ""), "1111", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, res := list(t, s)
	if res.Status != inventory.StatusComplete || len(keys) != 2 || len(res.Tokens) != 2 {
		t.Fatalf("%d keys, result %+v: want 2 keys and 2 tokens", len(keys), res)
	}
	for _, tk := range res.Tokens {
		if tk.Label != "alpha" && tk.Label != "beta" || tk.Serial == "" || tk.Model == "" || tk.FirmwareVersion == "" || tk.HardwareVersion == "" {
			t.Errorf("token %+v: want label, serial, model and versions", tk)
		}
	}
	var old inventory.Result
	if err := json.Unmarshal([]byte(`{"source":"hsm","status":"complete","keys":2}`), &old); err != nil || old.Tokens != nil {
		t.Errorf("a status from before tokens were recorded: %+v, %v", old, err)
	}
}
