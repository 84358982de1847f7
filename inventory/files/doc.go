// Package files lists keys and certificates held in files as
// inventory.Keys: PEM and DER certificates, public keys and private keys,
// PKCS#12 bundles, JWK sets, and the exports of cloud KMSs as their CLIs
// print them (AWS `kms get-public-key` JSON, Azure `az keyvault key show`
// JSON, GCP `gcloud kms keys versions get-public-key` PEM or its
// --format=json form).
//
// Every parser takes untrusted bytes: sizes are capped, and each has a
// fuzz test seeded from testdata/inventory. A private key read from a file
// is used only to derive its public half; it is never kept, logged or
// written. The PKCS#12 password is never printed.
package files

//go:generate go run ../../testdata/inventory/gen.go -out ../../testdata/inventory
