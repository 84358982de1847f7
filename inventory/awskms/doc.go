// Package awskms lists the keys of one AWS KMS region (awskms://REGION)
// as inventory.Keys, through aws-sdk-go-v2's KMS client: ListKeys, then
// per key DescribeKey, GetKeyRotationStatus (symmetric encryption keys),
// ListResourceTags (owner and purpose tags) and GetPublicKey (asymmetric
// keys, whose SPKI is fingerprinted like every other source's).
//
// Credentials come only from the standard AWS chain (environment, shared
// profile, web identity, instance role), never from flags or arguments;
// the endpoint may be overridden (a test emulator, a VPC endpoint). The
// package only reads: it must not create, change, schedule or cancel
// anything in KMS, and must not log credentials.
package awskms
