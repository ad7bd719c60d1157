package message

import "unicode/utf8"

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Truncate cuts s to at most max characters (runes), the last of them "…"
// when it was cut.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// TruncateBytes cuts s to at most max bytes of UTF-8, never inside a
// character, ending it with "…" when it was cut.
func TruncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Ellipsis)
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}
