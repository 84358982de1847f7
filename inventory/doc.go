// Package inventory is what the organisation says it has: the keys and
// certificates held in HSMs (PKCS#11), in files and in cloud KMSs. It owns
// the Key model — one record per key object, identified across keyaudit by
// spki_sha256 — and the Source contract its backends implement:
// inventory/pkcs11 for tokens, inventory/files for PEM/DER/PKCS#12/JWK files
// and cloud-KMS exports, inventory/kmip for KMIP key managers; every
// backend passes inventory/sourcetest. inventory/plan turns command-line sources and the
// config's inventory.sources and inventory.metadata into opened sources
// with their Defaults, their PINs and passwords read and scrubbed
// (Scrubber) from every message.
//
// A source streams Keys and ends with a Status: complete, partial (it
// failed part way: the keys it gave are real but the list is not whole)
// or failed. A partial inventory is never passed off as a complete one, so
// keys missing from it are not mistaken for deleted keys.
//
// This package and its backends must not read the secret value of a key
// (CKA_VALUE of a private or secret key, a KMIP Get of one), nor log, return or print a PIN or
// password. They know nothing of the store or the reconciler.
package inventory
