package kmip

import (
	"strings"

	"github.com/ovh/kmip-go"

	"github.com/keyaudit/keyaudit/inventory"
)

// pairByLinkOrName gives each private key the SPKI of its public half:
// the public key or certificate it links to or that links to it (KMIP
// Link), else the one whose Name has the same stem under rule. A private
// key with neither is noted unpaired. inventory.Pair then pairs by SPKI.
func pairByLinkOrName(objs []*object, rule NameRule) {
	byID := map[string]*object{}
	for _, o := range objs {
		byID[o.key.ID] = o
	}
	// Links pointing at a private key from its public half.
	linkedFrom := map[string][]*object{}
	for _, o := range objs {
		for _, l := range o.links {
			if l.LinkType == kmip.LinkTypePrivateKeyLink && o.key.SPKISHA256 != "" {
				linkedFrom[l.LinkedObjectIdentifier] = append(linkedFrom[l.LinkedObjectIdentifier], o)
			}
		}
	}
	// Stems of public keys and certificates, public keys first.
	stems := map[string]*object{}
	for _, role := range []struct {
		typ      kmip.ObjectType
		suffixes []string
	}{{kmip.ObjectTypePublicKey, rule.Public}, {kmip.ObjectTypeCertificate, rule.Certificate}} {
		for _, o := range objs {
			if o.typ != role.typ || o.key.SPKISHA256 == "" {
				continue
			}
			if st, ok := stem(o.name, role.suffixes); ok {
				if _, taken := stems[st]; !taken {
					stems[st] = o
				}
			}
		}
	}
	for _, o := range objs {
		if o.typ != kmip.ObjectTypePrivateKey || o.key.SPKISHA256 != "" {
			continue
		}
		var donor *object
		how, from := "", inventory.SPKIFromLink
		for _, l := range o.links {
			if l.LinkType != kmip.LinkTypePublicKeyLink && l.LinkType != kmip.LinkTypeCertificateLink {
				continue
			}
			if d := byID[l.LinkedObjectIdentifier]; d != nil && d.key.SPKISHA256 != "" {
				donor, how = d, "it links to"
				break
			}
		}
		if donor == nil {
			if ds := linkedFrom[o.key.ID]; len(ds) > 0 {
				donor, how = ds[0], "linking to it"
			}
		}
		if donor == nil {
			if st, ok := stem(o.name, rule.Private); ok && stems[st] != nil {
				donor, how, from = stems[st], "named by the name rule", inventory.SPKIFromName
			}
		}
		if donor == nil {
			o.key.AddNote("unpaired: no Link, and no public key or certificate named by the name rule")
			continue
		}
		o.key.SPKISHA256 = donor.key.SPKISHA256
		o.key.SPKISource = from
		if o.key.Curve == "" {
			o.key.Curve = donor.key.Curve
		}
		o.key.AddNote("spki_sha256 taken from the %s %s %s (%q)", donor.key.Class, donor.key.ID, how, donor.name)
	}
}

// stem returns name without the first of suffixes that ends it.
func stem(name string, suffixes []string) (string, bool) {
	for _, s := range suffixes {
		if s != "" && len(name) > len(s) && strings.HasSuffix(name, s) {
			return strings.TrimSuffix(name, s), true
		}
	}
	return "", false
}
