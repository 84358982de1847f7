package kmip

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"
	"github.com/ovh/kmip-go/payloads"
	"github.com/ovh/kmip-go/ttlv"

	"github.com/keyaudit/keyaudit/inventory"
)

// locatePage is how many identifiers one Locate asks for, on servers
// speaking KMIP 1.3 or later (Offset Items); older ones get one Locate.
const locatePage = 1024

// batchSize is how many objects one request message asks about (a
// batch of Get Attributes, then a batch of Get for the public ones): one
// round trip per object would make a large server slow to list.
const batchSize = 64

// maxObjects caps the identifiers one Locate may return: a server
// claiming more is treated as failing rather than exhausting memory.
const maxObjects = 1 << 20

// attributeNames are the attributes asked of every object. Servers leave
// out those they do not keep (PyKMIP 0.10 has no Link, no dates).
var attributeNames = []kmip.AttributeName{
	kmip.AttributeNameObjectType,
	kmip.AttributeNameState,
	kmip.AttributeNameCryptographicAlgorithm,
	kmip.AttributeNameCryptographicLength,
	kmip.AttributeNameCryptographicUsageMask,
	kmip.AttributeNameActivationDate,
	kmip.AttributeNameDeactivationDate,
	kmip.AttributeNameName,
	kmip.AttributeNameLink,
}

// attributeNames14 are asked too when KMIP 1.4 was negotiated.
var attributeNames14 = []kmip.AttributeName{kmip.AttributeNameSensitive, kmip.AttributeNameExtractable}

// object is one located object, read.
type object struct {
	key   inventory.Key
	typ   kmip.ObjectType
	name  string
	links []kmip.Link
}

// Keys locates every object the client may see, reads their attributes,
// takes the SPKI of public keys and certificates, pairs, and emits them.
// An object whose attributes the server refuses is left out with a
// warning; a connection failure part way emits what was read, and the
// result is partial.
func (s *Source) Keys(ctx context.Context, emit func(inventory.Key) error) inventory.Result {
	res := inventory.Result{Source: s.name}
	if s.client == nil {
		return res.Finish(fmt.Errorf("kmip: %s: source closed", s.name))
	}
	ids, failed := s.locate(ctx)
	if failed != nil && len(ids) == 0 {
		return res.Finish(failed)
	}
	batch := batchSize
	if s.cfg.batch > 0 {
		batch = s.cfg.batch
	}
	var objs []*object
	for lo := 0; lo < len(ids); lo += batch {
		if err := ctx.Err(); err != nil {
			failed = errors.Join(failed, err)
			break
		}
		chunk := ids[lo:min(lo+batch, len(ids))]
		read, warnings, err := s.read(ctx, chunk)
		objs = append(objs, read...)
		res.Warnings = append(res.Warnings, warnings...)
		if err != nil {
			failed = errors.Join(failed, fmt.Errorf("kmip: %s: reading objects %s…: %w", s.name, chunk[0], err))
			break
		}
	}
	pairByLinkOrName(objs, s.cfg.Names)
	keys := make([]inventory.Key, len(objs))
	for i, o := range objs {
		keys[i] = o.key
	}
	inventory.Pair(keys)
	refs := inventory.Refs{}
	for i := range keys {
		k := &keys[i]
		fp := k.SPKISHA256
		k.Ref = refs.Unique(inventory.MakeRef(s.name, k.Class, k.ID, k.Label, fp))
		k.Normalize()
		if err := emit(*k); err != nil {
			return res.Finish(err)
		}
		res.Keys++
	}
	if failed != nil {
		res.Warnings = append(res.Warnings, failed.Error())
	}
	return res.Finish(failed)
}

// request sends one operation. A transport failure is returned as fatal;
// a refusal by the server (the batch item failed) as refused.
func (s *Source) request(ctx context.Context, pl kmip.OperationPayload) (resp kmip.OperationPayload, refused, fatal error) {
	resps, refusals, err := s.batch(ctx, []kmip.OperationPayload{pl})
	if err != nil {
		return nil, nil, err
	}
	return resps[0], refusals[0], nil
}

// batch sends pls in one message, asking the server to go on past a
// refused item. A transport failure is returned as err; item i's
// refusal as refused[i].
func (s *Source) batch(ctx context.Context, pls []kmip.OperationPayload) (resps []kmip.OperationPayload, refused []error, err error) {
	br, err := s.client.BatchOpt(ctx, pls, kmipclient.OnBatchErr(kmip.BatchErrorContinuationOptionContinue))
	if err != nil {
		return nil, nil, err
	}
	if len(br) != len(pls) {
		return nil, nil, fmt.Errorf("%d batch items in the response to %d", len(br), len(pls))
	}
	resps, refused = make([]kmip.OperationPayload, len(br)), make([]error, len(br))
	for i := range br {
		if refused[i] = br[i].Err(); refused[i] == nil {
			resps[i] = br[i].ResponsePayload
		}
	}
	return resps, refused, nil
}

// locate lists the identifiers of every object, a page at a time where
// the protocol version allows. Objects created while paging may shift
// the pages: identifiers are listed once each.
func (s *Source) locate(ctx context.Context) ([]string, error) {
	page := int32(locatePage)
	if s.cfg.locatePage > 0 {
		page = int32(s.cfg.locatePage)
	}
	v := s.client.Version()
	paged := v.ProtocolVersionMajor > 1 || v.ProtocolVersionMinor >= 3
	var ids []string
	seen := map[string]bool{}
	for offset := int32(0); ; offset += page {
		req := &payloads.LocateRequestPayload{}
		if paged {
			req.MaximumItems, req.OffsetItems = page, offset
		}
		resp, refused, err := s.request(ctx, req)
		if err == nil {
			err = refused
		}
		if err != nil {
			return ids, fmt.Errorf("kmip: %s: locate: %w", s.name, err)
		}
		lr, ok := resp.(*payloads.LocateResponsePayload)
		if !ok {
			return ids, fmt.Errorf("kmip: %s: locate: unexpected response %T", s.name, resp)
		}
		for _, id := range lr.UniqueIdentifier {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) > maxObjects {
			return nil, fmt.Errorf("kmip: %s: locate: more than %d objects", s.name, maxObjects)
		}
		if !paged || len(lr.UniqueIdentifier) < int(page) {
			return ids, nil
		}
	}
}

// read reads the attributes of the objects ids and, for public keys and
// certificates only, their values. Objects that are not keys or
// certificates (secret data, opaque objects, templates) are left out, and
// so, with a warning, are those whose attributes the server refuses.
func (s *Source) read(ctx context.Context, ids []string) ([]*object, []string, error) {
	names := attributeNames
	if v := s.client.Version(); v.ProtocolVersionMajor > 1 || v.ProtocolVersionMinor >= 4 {
		names = append(append([]kmip.AttributeName(nil), attributeNames...), attributeNames14...)
	}
	pls := make([]kmip.OperationPayload, len(ids))
	for i, id := range ids {
		pls[i] = &payloads.GetAttributesRequestPayload{UniqueIdentifier: id, AttributeName: names}
	}
	resps, refused, err := s.batch(ctx, pls)
	if err != nil {
		return nil, nil, err
	}
	var objs, public []*object
	var warnings []string
	for i, id := range ids {
		if refused[i] != nil {
			warnings = append(warnings, fmt.Sprintf("kmip: %s: object %s: attributes refused: %v", s.name, id, refused[i]))
			continue
		}
		ga, ok := resps[i].(*payloads.GetAttributesResponsePayload)
		if !ok {
			return nil, nil, fmt.Errorf("get attributes: unexpected response %T", resps[i])
		}
		o := &object{key: inventory.Key{Source: "kmip", Token: s.name, ID: id, URI: s.name + "/" + id, Usage: []string{}}}
		if !o.apply(ga.Attribute) {
			s.log.Debug("kmip: skipping object", "server", s.name, "id", id, "type", ttlv.EnumStr(o.typ))
			continue
		}
		objs = append(objs, o)
		// Only public objects are ever fetched; private and symmetric
		// keys are described by their attributes alone.
		if o.typ == kmip.ObjectTypePublicKey || o.typ == kmip.ObjectTypeCertificate {
			public = append(public, o)
		}
	}
	if len(public) == 0 {
		return objs, warnings, nil
	}
	pls = make([]kmip.OperationPayload, len(public))
	for i, o := range public {
		pls[i] = &payloads.GetRequestPayload{UniqueIdentifier: o.key.ID}
	}
	resps, refused, err = s.batch(ctx, pls)
	if err != nil {
		return nil, nil, err
	}
	for i, o := range public {
		if refused[i] != nil {
			o.key.AddNote("value refused: %v", refused[i])
			continue
		}
		if err := setSPKI(o, resps[i]); err != nil {
			return nil, nil, err
		}
	}
	return objs, warnings, nil
}

// apply sets o's key from the attributes; false means o is not a key
// or certificate.
func (o *object) apply(attrs []kmip.Attribute) bool {
	k := &o.key
	var mask kmip.CryptographicUsageMask
	haveMask := false
	for _, a := range attrs {
		switch v := a.AttributeValue.(type) {
		case kmip.ObjectType:
			o.typ = v
		case kmip.State:
			k.State = stateName(v)
		case kmip.CryptographicAlgorithm:
			k.KeyType = algorithmName(v)
		case int32:
			if a.AttributeName == kmip.AttributeNameCryptographicLength {
				k.KeyBits = int(v)
			}
		case kmip.CryptographicUsageMask:
			mask, haveMask = v, true
		case bool:
			switch a.AttributeName {
			case kmip.AttributeNameSensitive:
				k.Sensitive = inventory.Bool(v)
			case kmip.AttributeNameExtractable:
				k.Extractable = inventory.Bool(v)
			}
		case time.Time:
			t := v.UTC()
			switch a.AttributeName {
			case kmip.AttributeNameActivationDate:
				k.StartDate = &t
			case kmip.AttributeNameDeactivationDate:
				k.EndDate = &t
			}
		case kmip.Name:
			if o.name == "" {
				o.name = v.NameValue
			}
		case kmip.Link:
			o.links = append(o.links, v)
		}
	}
	switch o.typ {
	case kmip.ObjectTypePrivateKey:
		k.Class = inventory.ClassPrivateKey
	case kmip.ObjectTypePublicKey:
		k.Class = inventory.ClassPublicKey
	case kmip.ObjectTypeSymmetricKey:
		k.Class = inventory.ClassSecretKey
	case kmip.ObjectTypeCertificate:
		k.Class = inventory.ClassCertificate
	default:
		return false
	}
	if k.Class == inventory.ClassPublicKey || k.Class == inventory.ClassCertificate {
		// Public objects have nothing to keep secret: like PKCS#11's
		// public objects, they carry no sensitive/extractable flags.
		k.Sensitive, k.Extractable = nil, nil
	}
	k.Label = o.name
	if k.KeyType == "" {
		k.KeyType = "unknown"
	}
	if haveMask {
		k.SetUsage(map[string]bool{
			inventory.UsageSign:    mask&(kmip.CryptographicUsageSign|kmip.CryptographicUsageCertificateSign|kmip.CryptographicUsageCRLSign) != 0,
			inventory.UsageVerify:  mask&kmip.CryptographicUsageVerify != 0,
			inventory.UsageEncrypt: mask&kmip.CryptographicUsageEncrypt != 0,
			inventory.UsageDecrypt: mask&kmip.CryptographicUsageDecrypt != 0,
			inventory.UsageWrap:    mask&kmip.CryptographicUsageWrapKey != 0,
			inventory.UsageUnwrap:  mask&kmip.CryptographicUsageUnwrapKey != 0,
			inventory.UsageDerive:  mask&(kmip.CryptographicUsageDeriveKey|kmip.CryptographicUsageKeyAgreement) != 0,
		})
	}
	return true
}

// stateName writes a KMIP state like the other key managers' states:
// pre_active, active, deactivated, compromised, destroyed,
// destroyed_compromised.
func stateName(st kmip.State) string {
	switch st {
	case kmip.StatePreActive:
		return "pre_active"
	case kmip.StateActive:
		return "active"
	case kmip.StateDeactivated:
		return "deactivated"
	case kmip.StateCompromised:
		return "compromised"
	case kmip.StateDestroyed:
		return "destroyed"
	case kmip.StateDestroyedCompromised:
		return "destroyed_compromised"
	}
	return strings.ToLower(ttlv.EnumStr(st))
}

// algorithmName names a KMIP algorithm like the PKCS#11 source names key
// types.
func algorithmName(a kmip.CryptographicAlgorithm) string {
	switch a {
	case kmip.CryptographicAlgorithmRSA:
		return "RSA"
	case kmip.CryptographicAlgorithmECDSA, kmip.CryptographicAlgorithmEC:
		return "ECDSA"
	case kmip.CryptographicAlgorithmDSA:
		return "DSA"
	case kmip.CryptographicAlgorithmAES:
		return "AES"
	case kmip.CryptographicAlgorithmTDES:
		return "DES3"
	}
	n := ttlv.EnumStr(a)
	if strings.HasPrefix(n, "HMAC") {
		return "HMAC"
	}
	return n
}

// setSPKI sets o's SPKI, type, size and curve from the Get response of
// a public key or certificate (in whatever format the server keeps it).
func setSPKI(o *object, resp kmip.OperationPayload) error {
	k := &o.key
	gr, ok := resp.(*payloads.GetResponsePayload)
	if !ok {
		return fmt.Errorf("get: unexpected response %T", resp)
	}
	var der []byte
	switch v := gr.Object.(type) {
	case *kmip.Certificate:
		c, err := x509.ParseCertificate(v.CertificateValue)
		if err != nil {
			k.AddNote("certificate unparsable: %v", err)
			return nil
		}
		der = c.RawSubjectPublicKeyInfo
		sum := sha256.Sum256(c.Raw)
		k.CertSHA256, k.Subject = hex.EncodeToString(sum[:]), c.Subject.String()
		nb, na := c.NotBefore.UTC(), c.NotAfter.UTC()
		if k.StartDate == nil {
			k.StartDate = &nb
		}
		if k.EndDate == nil {
			k.EndDate = &na
		}
		if k.Label == "" {
			k.Label = c.Subject.CommonName
		}
		k.SPKISource = inventory.SPKIFromCertificate
	case *kmip.PublicKey:
		if v.KeyBlock.KeyFormatType == kmip.KeyFormatTypeX_509 {
			der, _ = v.KeyBlock.GetBytes()
		}
		if der == nil {
			pub, err := v.CryptoPublicKey()
			if err != nil {
				k.AddNote("public key unparsable: %v", err)
				return nil
			}
			if der, err = x509.MarshalPKIXPublicKey(pub); err != nil {
				k.AddNote("public key unparsable: %v", err)
				return nil
			}
		}
		k.SPKISource = inventory.SPKIFromObject
	default:
		return fmt.Errorf("get: object %T where %s was expected", gr.Object, ttlv.EnumStr(o.typ))
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		k.AddNote("public key unparsable: %v", err)
		k.SPKISource = ""
		return nil
	}
	k.SPKISHA256 = inventory.SHA256Hex(der)
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k.KeyType, k.KeyBits = "RSA", p.N.BitLen()
	case *ecdsa.PublicKey:
		k.KeyType, k.KeyBits, k.Curve = "ECDSA", p.Curve.Params().BitSize, p.Curve.Params().Name
	case ed25519.PublicKey:
		k.KeyType, k.KeyBits, k.Curve = "Ed25519", 256, "Ed25519"
	}
	return nil
}
