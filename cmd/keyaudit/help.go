package main

import (
	"embed"
	"strings"
)

// helpFS holds the long help of the commands whose help is prose more
// than a paragraph, one text file per command (help/<name>.txt), so the
// Go files hold the wiring and the text can be read and edited as text.
//
//go:embed help/*.txt
var helpFS embed.FS

// help returns the long help of name; a missing file is a build mistake
// caught by TestHelpTexts.
func help(name string) string {
	b, err := helpFS.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("keyaudit: no help text " + name)
	}
	return strings.TrimRight(string(b), "\n")
}
