package reports

// Printable returns s safe to write to a terminal: C0 and C1 control
// characters and DEL are replaced by '?', so text from certificates,
// plans or the store cannot carry terminal escape sequences (window
// titles, screen clears, cursor moves) to whoever reads the output.
func Printable(s string) string { return sanitizeCell(s) }
