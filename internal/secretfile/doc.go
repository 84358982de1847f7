// Package secretfile decides what keyaudit does with a file holding a
// secret — a PKCS#11 PIN (pin-source), a PKCS#12 password, an ACME
// account key — that users other than its owner may read: it warns, or,
// strict (--strict), refuses the file. It reads no file itself and never
// sees the secret.
package secretfile
