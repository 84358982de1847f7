package pkcs11uri

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/secretfile"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want URI
		str  string // canonical String(), "" = skip
	}{
		{in: "pkcs11:", want: URI{}, str: "pkcs11:"},
		{
			in:   "pkcs11:token=hsm1;object=web-2026;id=%01%02;type=private",
			want: URI{Token: "hsm1", Object: "web-2026", ID: []byte{1, 2}, HasID: true, Type: "private"},
			str:  "pkcs11:token=hsm1;object=web-2026;id=%01%02;type=private",
		},
		{
			in: "pkcs11:token=My%20token;serial=DECC0401648;model=SoftHSM%20v2;manufacturer=SoftHSM%20project;slot-id=7" +
				"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			want: URI{Token: "My token", Serial: "DECC0401648", Model: "SoftHSM v2", Manufacturer: "SoftHSM project",
				SlotID: 7, HasSlotID: true, ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/run/pin"},
			str: "pkcs11:slot-id=7;model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=DECC0401648;token=My%20token" +
				"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
		},
		{ // RFC 7512 §3 examples
			in:   "pkcs11:object=my-pubkey;type=public",
			want: URI{Object: "my-pubkey", Type: "public"},
		},
		{
			in:   "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
			want: URI{Token: "Software PKCS#11 softtoken", Manufacturer: "Snake Oil, Inc.", PINValue: "the-pin"},
			str:  "pkcs11:manufacturer=Snake%20Oil,%20Inc.;token=Software%20PKCS%2311%20softtoken",
		},
		{
			in:   "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token;library-version=1.23",
			want: URI{LibraryManufacturer: "Snake Oil, Inc.", LibraryDescription: "Soft Token", LibraryVersion: "1.23"},
		},
		{
			in:   "pkcs11:token=a%2Bb+c;x-vendor=v?x-q=1&module-name=softhsm2",
			want: URI{Token: "a+b+c", ModuleName: "softhsm2", Vendor: []Attr{{Name: "x-vendor", Value: "v"}, {Name: "x-q", Value: "1", Query: true}}},
			str:  "pkcs11:token=a+b+c;x-vendor=v?module-name=softhsm2&x-q=1",
		},
		{in: "PKCS11:id=", want: URI{ID: []byte{}, HasID: true}, str: "pkcs11:id="},
		{in: "pkcs11:object=a;b", want: URI{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := Parse(tt.in)
			if tt.in == "pkcs11:object=a;b" {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded, want error", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !equal(u, &tt.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, *u, tt.want)
			}
			if tt.str != "" && u.String() != tt.str {
				t.Errorf("String() = %q, want %q", u.String(), tt.str)
			}
			// Round trip: String parses back to the same URI, less pin-value.
			u2, err := Parse(u.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", u.String(), err)
			}
			want := *u
			want.PINValue = ""
			if !equal(u2, &want) {
				t.Errorf("round trip: %+v != %+v", *u2, want)
			}
		})
	}
}

func equal(a, b *URI) bool {
	if !bytes.Equal(a.ID, b.ID) || len(a.Vendor) != len(b.Vendor) {
		return false
	}
	x, y := *a, *b
	x.ID, y.ID = nil, nil
	if len(x.Vendor) == 0 {
		x.Vendor, y.Vendor = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "token=x", "http://x", "pkcs11:token=a;token=b", "pkcs11:unknown=1", "pkcs11:type=key",
		"pkcs11:slot-id=x", "pkcs11:id=%zz", "pkcs11:id=%0", "pkcs11:?pin-source=a&pin-source=b",
		"pkcs11:?bogus=1", "pkcs11:library-version=a.b", "pkcs11:token=a#frag", "pkcs11:=x",
		"pkcs11:" + strings.Repeat("a", maxURIBytes),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%.40q) = %v, want ErrSyntax", in, err)
		}
	}
}

// A PIN must never come back in an error or a formatted URI.
func TestPINNeverPrinted(t *testing.T) {
	const pin = "s3cr3t-PIN-9876"
	for _, in := range []string{
		"pkcs11:token=t?pin-value=" + pin,
		"pkcs11:token=t?pin-value=" + pin + "&pin-value=" + pin,
		"pkcs11:token=t?pin-value=" + pin + "&bogus=" + pin,
		"pkcs11:token=t?pin-value=%zz" + pin,
		"pkcs11:token=t?pin-value" + pin,
	} {
		u, err := Parse(in)
		if err != nil {
			if strings.Contains(err.Error(), pin) {
				t.Errorf("error for %q contains the PIN: %v", in, err)
			}
			continue
		}
		if strings.Contains(u.String(), pin) || strings.Contains(u.Path(), pin) {
			t.Errorf("String() of %q contains the PIN", in)
		}
	}
}

func TestMatches(t *testing.T) {
	obj, _ := Parse("pkcs11:manufacturer=SoftHSM%20project;serial=abc;token=hsm1;object=web-2026;id=%01;type=private")
	for pat, want := range map[string]bool{
		"pkcs11:":                                   true,
		"pkcs11:token=hsm1":                         true,
		"pkcs11:token=hsm*;object=web-*":            true,
		"pkcs11:token=hsm1;type=public":             false,
		"pkcs11:token=hsm2":                         false,
		"pkcs11:id=%01?module-path=/x":              true,
		"pkcs11:id=%02":                             false,
		"pkcs11:serial=abc;type=private;object=web": false,
		"pkcs11:model=x":                            false,
	} {
		p, err := Parse(pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Matches(obj); got != want {
			t.Errorf("%s matches = %v, want %v", pat, got, want)
		}
	}
}

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pin")
	if err := os.WriteFile(f, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"file:" + f, "file://" + f, f} {
		u := &URI{PINSource: src}
		pin, err := u.ReadPIN(secretfile.Policy{})
		if err != nil || pin != "1234" {
			t.Errorf("ReadPIN(%s) = %q, %v", src, pin, err)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("1"), maxPINBytes+1), 0o600)
	for _, src := range []string{"file:" + filepath.Join(dir, "missing"), "file:" + empty, "file:" + big, "https://x/pin", "file://host/pin"} {
		u := &URI{PINSource: src}
		if _, err := u.ReadPIN(secretfile.Policy{}); !errors.Is(err, ErrPINSource) {
			t.Errorf("ReadPIN(%s) err = %v, want ErrPINSource", src, err)
		}
	}
	if pin, err := (&URI{}).ReadPIN(secretfile.Policy{}); pin != "" || err != nil {
		t.Errorf("no pin-source: %q, %v", pin, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=hsm1;object=web-2026;id=%01%02;type=private",
		"pkcs11:token=My%20token;serial=DECC0401648;slot-id=7?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
		"pkcs11:library-version=1.23;x-a=b?x-c=d&pin-value=1234",
		"pkcs11:id=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			return
		}
		out := u.String()
		if len(out) > maxURIBytes {
			return // escaping grew it past the limit
		}
		u2, err := Parse(out)
		if err != nil {
			t.Fatalf("String() of a parsed URI does not parse: %.200q → %.200q: %v", s, out, err)
		}
		want := *u
		want.PINValue = ""
		if !equal(u2, &want) {
			t.Fatalf("round trip changed the URI: %.200q → %.200q", s, out)
		}
		if strings.Contains(out, "?pin-value=") || strings.Contains(out, "&pin-value=") {
			t.Fatalf("pin-value printed: %q", out)
		}
	})
}

// TestReadPINRefusesAFIFO: a FIFO as pin-source is refused at once, not
// waited on forever (it would also ignore SIGTERM while blocked).
func TestReadPINRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	u, err := Parse("pkcs11:token=t?pin-source=file:" + fifo)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := u.ReadPIN(secretfile.Policy{}); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrPINSource) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("ReadPIN(FIFO) = %v, want a refusal", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPIN blocked on a FIFO")
	}
}
