// Package outfile writes the files keyaudit's outputs name (report -o,
// audit --report, revoke plan -o): a regular file (or a path that does not
// exist yet) is replaced whole once its content is complete, and anything
// else — a device, a FIFO, a descriptor named through /proc or /dev/fd —
// is written through, never replaced. It must not decide what is written.
package outfile
