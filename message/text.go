package message

import (
	"strings"
	"unicode/utf8"
)

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

// Fit returns s with each character written by esc (the platform's
// escaping; nil writes it as is), when the result has at most max
// characters. Otherwise it returns the longest such prefix that leaves room
// for Ellipsis, then Ellipsis: the limit holds after escaping and no escape
// sequence is ever split. Invalid UTF-8 becomes U+FFFD.
func Fit(s string, max int, esc func(rune) string) string {
	return fit(s, max, esc, utf8.RuneCountInString)
}

// FitBytes is Fit for limits counted in bytes of UTF-8.
func FitBytes(s string, max int, esc func(rune) string) string {
	return fit(s, max, esc, func(s string) int { return len(s) })
}

func fit(s string, max int, esc func(rune) string, size func(string) int) string {
	if max <= 0 {
		return ""
	}
	room := max - size(Ellipsis)
	var b strings.Builder
	n, keep := 0, 0 // size written; bytes of the longest prefix that leaves room for the ellipsis
	for _, r := range s {
		e := string(r)
		if esc != nil {
			e = esc(r)
		}
		n += size(e)
		if n > max {
			if room < 0 {
				return ""
			}
			return b.String()[:keep] + Ellipsis
		}
		b.WriteString(e)
		if n <= room {
			keep = b.Len()
		}
	}
	return b.String()
}
