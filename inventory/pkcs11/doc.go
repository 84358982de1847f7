// Package pkcs11 lists the keys and certificates of PKCS#11 tokens (HSMs,
// smart cards, SoftHSM) as inventory.Keys, through github.com/miekg/pkcs11.
//
// Tokens are selected by RFC 7512 URIs. Sessions are read-only; the user
// logs in at most once per token, and never when the token says its PIN is
// locked or on its final try, because a wrong PIN retried locks tokens.
// Objects are searched per CKA_CLASS (some tokens hide private keys from a
// class-less search). CKA_VALUE is read only from certificates — never
// from a private or secret key, sensitive or not. The public half of a
// private key is derived from its public attributes (RSA modulus and
// exponent, CKA_PUBLIC_KEY_INFO) or, for EC keys whose private object does
// not carry the point, taken from the public object or certificate with
// the same CKA_ID; objects are then paired by SPKI, and pairs whose CKA_IDs
// disagree are reported.
//
// OpenToken is the one way tokens are selected, opened and logged in to:
// Source uses it for each of its tokens and reconcile/revoke for the
// token that signs revocations, so a process doing both initializes a
// module once, finalizes it when its last user closes, and logs in to a
// token once.
//
// The package must not log, print or return the PIN, and must not write
// to a token.
package pkcs11
