package ctlog

import (
	"bytes"
	"encoding/json"
	"testing"

	ct "github.com/google/certificate-transparency-go"
)

func getEntriesSeeds() [][]byte {
	plain, _ := json.Marshal(ct.GetEntriesResponse{Entries: []ct.LeafEntry{
		{LeafInput: []byte("leaf one"), ExtraData: []byte{0, 0, 0}},
		{LeafInput: bytes.Repeat([]byte{0xff, 0x01}, 300), ExtraData: []byte{}},
	}})
	return [][]byte{
		plain,
		[]byte(`{"entries":[]}`),
		[]byte(" {\n \"entries\" : [ { \"leaf_input\" : \"AAEC\" , \"extra_data\" : \"\" } ] }\n"),
		[]byte(`{"entries":[{"leaf_input":"AAE\/","extra_data":""}]}`),          // escape: encoding/json decides
		[]byte(`{"entries":[{"extra_data":"AAEC","leaf_input":"AAEC","x":1}]}`), // other field
		[]byte(`{"entries":[{"leaf_input":"AAEC"}]}`),                           // field missing
		[]byte(`{"entries":[{"leaf_input":"AAE","extra_data":""}]}`),            // bad base64
		[]byte(`{"entries":[{"leaf_input":"AAEC","extra_data":""}]} trailing`),  // not JSON
		[]byte(`{"entries":[{"leaf_input":"AAEC","extra_data":""},]}`),          // not JSON
	}
}

// TestDecodeGetEntries: the one-pass reader and encoding/json agree on
// every answer the one-pass reader takes, and encoding/json decides the
// others.
func TestDecodeGetEntries(t *testing.T) {
	for _, b := range getEntriesSeeds() {
		checkGetEntries(t, b)
	}
	if _, ok := fastGetEntries(getEntriesSeeds()[0]); !ok {
		t.Fatal("a plain answer went the slow way")
	}
	if es, err := decodeGetEntries(getEntriesSeeds()[3]); err != nil || len(es) != 1 || len(es[0].LeafInput) != 3 {
		t.Fatalf("escaped answer: %v, %v", es, err)
	}
	if _, err := decodeGetEntries(getEntriesSeeds()[7]); err == nil {
		t.Fatal("trailing garbage accepted")
	}
}

func checkGetEntries(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := fastGetEntries(b)
	if !ok {
		return
	}
	var resp ct.GetEntriesResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("%q: taken by the one-pass reader, refused by encoding/json: %v", b, err)
	}
	if len(fast) != len(resp.Entries) {
		t.Fatalf("%q: %d entries, encoding/json %d", b, len(fast), len(resp.Entries))
	}
	for i := range fast {
		if !bytes.Equal(fast[i].LeafInput, resp.Entries[i].LeafInput) || !bytes.Equal(fast[i].ExtraData, resp.Entries[i].ExtraData) {
			t.Fatalf("%q: entry %d differs", b, i)
		}
	}
}

func FuzzGetEntries(f *testing.F) {
	for _, b := range getEntriesSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkGetEntries(t, b) })
}
