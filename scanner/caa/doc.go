// Package caa finds the relevant CAA RRset of a domain name (RFC 8659 §3)
// and decides which certificate authorities its issue, issuewild and
// critical properties allow (RFC 8659 §4, with the RFC 8657 accounturi and
// validationmethods parameters).
//
// It owns the whole chain from the DNS answer to the decision: the climb
// from the name towards the root, CNAMEs followed as resolution does (and,
// when an alias target has no CAA, the climb continuing from the parent of
// the original name, as RFC 8659 requires — not of the target, as RFC 6844
// errata had it), and the issuer-domain-name and parameter grammar. Its
// Result, Record and Error are the stored records of store/records; the
// table that maps a certificate's issuer to the CAA identifiers its CA
// recognises is reconcile's (reconcile.CATable).
//
// A lookup that fails (SERVFAIL, timeout, REFUSED, a malformed or
// oversized answer) is an error for that name. It is never read as "no
// CAA, so any CA may issue".
//
// Queries go with miekg/dns to the resolvers the caller names (or the
// system's when none is named), one exchange per attempt under the
// caller's context, with the AD and DO bits set when DNSSEC status is
// asked for. The package knows nothing of the store or of the inventory.
package caa
