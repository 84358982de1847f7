// Package kmip lists the objects of a KMIP key manager (kmip://host:port)
// as inventory.Keys, through github.com/ovh/kmip-go.
//
// The client authenticates with a TLS client certificate; the protocol
// version is negotiated with Discover Versions. Every object the client
// may see is located, then read with Get Attributes (object type, state,
// algorithm and length, usage mask, sensitive/extractable, activation and
// deactivation dates, name, link). Get is sent only for public keys and
// certificates, to take their SubjectPublicKeyInfo: the package must never
// send Get for a private key, a symmetric key or secret data, and must not
// write to the server.
//
// A private key takes the SPKI of the public key or certificate it is
// linked to (Link), or, on servers without Link (PyKMIP 0.10), of the one
// whose Name matches it under the configured suffix rule (web-private,
// web-public, web-cert); otherwise it is reported unpaired. Objects are
// then paired by SPKI, like every other source.
package kmip
