// Command keyaudit-ctbench generates and serves a realistic Certificate
// Transparency log on loopback, for measuring `keyaudit ct sync` (make
// bench-ct, scripts/bench-ct.sh) and peer monitors beside it.
//
//	keyaudit-ctbench gen -dir D -entries 131072     write a static-ct-api log (tiles, checkpoint, issuers)
//	keyaudit-ctbench serve -dir D -addr 127.0.0.1:0  serve it: static-ct-api under /static/, RFC 6962 under /rfc/
//
// The corpus is made to cost what real logs cost to ingest: ≈46% of the
// entries are precertificates (so the tile carries the TBS and the whole
// precertificate), certificates have 1 to 100 SANs (most 1–3), RSA 2048 and
// 4096 and ECDSA P-256 and P-384 subject keys, each key distinct but for
// renewals, the extensions and SCT lists of publicly-trusted certificates,
// ≈1.5 KB per entry. Every name is under "example" (watch "example": every
// entry matches); one entry in 1000 also names a host under
// "target.example" (watch "target.example": 0.1% match). Signatures are
// random bytes of the right length (nothing a monitor does verifies a
// leaf's signature); the checkpoint and tree heads are really signed.
//
// serve listens on loopback only and runs until interrupted.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	cmd, args := "", os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "gen":
		err = genCmd(args)
	case "serve":
		err = serveCmd(args)
	default:
		err = fmt.Errorf("usage: keyaudit-ctbench gen|serve [flags]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-ctbench:", err)
		os.Exit(2)
	}
}
