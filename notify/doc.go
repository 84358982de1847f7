// Package notify tells the right team, once, when a finding opens,
// reopens, escalates or resolves, or a stage fails.
//
// Owners (config "owners:") map domains with their subdomains, CIDRs,
// inventory sources and key labels to teams and business units; the
// owner an inventory metadata rule gives a key wins over them. Assign
// gives every finding its owner. Routes (config "notify:") match events
// on check, severity, owner and domain and send them to sinks: a webhook
// (JSON, signed with HMAC-SHA256 over the timestamp and body), a
// Slack-compatible incoming webhook, e-mail over SMTP with STARTTLS, or an
// exec hook with the event in its environment.
//
// Delivery goes through an outbox in the store: Router.Notifications
// turns an event into one notification per route and sink, which
// stage.Reconcile writes in the transaction that records the event; a
// Sender then claims due notifications, sends them, and marks each sent
// or schedules its retry with backoff. A crash before sending loses
// nothing (the notification is pending); a crash after sending but
// before marking it sent sends it again, with the same idempotency key
// (the webhook's X-Keyaudit-Idempotency-Key header, the e-mail's
// Message-ID), by which receivers recognise it. A notification that keeps
// failing stays pending, retried at most hourly, and the
// notification-failed check reports it.
//
// Secrets — the webhook signing secret, SMTP passwords — come from files
// or environment variables, never from the config's text or argv, and
// never reach a payload, a log or an error.
package notify
