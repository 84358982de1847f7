package validity

import (
	"crypto/x509"
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// maxBundleCerts bounds the certificates read from one caIssuers answer.
const maxBundleCerts = 8

// oidSignedData is PKCS#7 signedData (RFC 2315 §9.1).
var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// parsePKCS7Certs reads the certificates of a "certs-only" PKCS#7
// SignedData (RFC 5280 §4.2.2.1: a caIssuers URL may serve one, .p7c).
// Anything else yields none.
func parsePKCS7Certs(b []byte) []*x509.Certificate {
	in := cryptobyte.String(b)
	var ci, content, sd cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&oid) {
		return nil
	}
	if !oid.Equal(oidSignedData) || !ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!content.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil
	}
	var version int64
	var skip cryptobyte.String
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&skip, cbasn1.SET) || !sd.ReadASN1(&skip, cbasn1.SEQUENCE) {
		return nil
	}
	var certs cryptobyte.String
	if !sd.ReadASN1(&certs, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil
	}
	var out []*x509.Certificate
	for !certs.Empty() && len(out) < maxBundleCerts {
		var raw cryptobyte.String
		if !certs.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			break
		}
		if c, err := x509.ParseCertificate(raw); err == nil {
			out = append(out, c)
		}
	}
	return out
}
