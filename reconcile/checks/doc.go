// Package checks holds keyaudit's reconcile checks, one per file, each
// registering itself with the reconcile registry in init(). Import it for
// its side effect.
package checks
