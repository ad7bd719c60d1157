package message_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/message"
)

// samples mix one-, two-, three- and four-byte characters, and emoji made of
// several runes.
var samples = []string{
	"",
	"a",
	"hello, world",
	"数据库变更审批",
	"发布 1.4 失败了 🚀🔥",
	"🚀🔥💥",
	"👍🏽 ok",
	"👩‍💻 deploys",
	"é è ê ñ ü",
	"mixed ascii 和中文 and émoji 🎉 end",
}

func TestTruncateExamples(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 10, "hello"},
		{"hello", 4, "hel…"},
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"", 0, ""},
		{"数据库变更", 5, "数据库变更"},
		{"数据库变更", 3, "数据…"},
		{"🚀🔥💥", 2, "🚀…"},
	}
	for _, tt := range tests {
		if got := message.Truncate(tt.s, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestTruncateProperties(t *testing.T) {
	for _, s := range samples {
		n := utf8.RuneCountInString(s)
		for max := -1; max <= n+2; max++ {
			got := message.Truncate(s, max)
			if !utf8.ValidString(got) {
				t.Fatalf("Truncate(%q, %d) = %q: invalid UTF-8", s, max, got)
			}
			if c := utf8.RuneCountInString(got); c > max && !(max < 0 && c == 0) {
				t.Errorf("Truncate(%q, %d) = %q: %d characters", s, max, got, c)
			}
			if n <= max {
				if got != s {
					t.Errorf("Truncate(%q, %d) = %q, want it unchanged", s, max, got)
				}
				continue
			}
			if max <= 0 {
				if got != "" {
					t.Errorf("Truncate(%q, %d) = %q, want empty", s, max, got)
				}
				continue
			}
			head, ok := strings.CutSuffix(got, message.Ellipsis)
			if !ok {
				t.Errorf("Truncate(%q, %d) = %q: cut without …", s, max, got)
			}
			if !strings.HasPrefix(s, head) {
				t.Errorf("Truncate(%q, %d) = %q: not a prefix of the input", s, max, got)
			}
			if c := utf8.RuneCountInString(got); c != max {
				t.Errorf("Truncate(%q, %d) = %q: %d characters, want exactly %d", s, max, got, c, max)
			}
		}
	}
}

func TestTruncateBytesExamples(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 100, "hello"},
		{"hello", 4, "h…"},
		{"hello", 3, "…"},
		{"hello", 2, ""},
		{"hello", 1, ""},
		{"hello", 0, ""},
		{"", 0, ""},
		// Each Chinese character is 3 bytes; "…" is 3.
		{"数据库", 9, "数据库"},
		{"数据库", 8, "数…"},
		{"数据库", 6, "数…"},
		{"数据库", 5, "…"},
		// Each of these emoji is 4 bytes.
		{"🚀🔥💥", 12, "🚀🔥💥"},
		{"🚀🔥💥", 11, "🚀🔥…"},
		{"🚀🔥💥", 10, "🚀…"},
		{"🚀🔥💥", 7, "🚀…"},
		{"🚀🔥💥", 6, "…"},
	}
	for _, tt := range tests {
		if got := message.TruncateBytes(tt.s, tt.max); got != tt.want {
			t.Errorf("TruncateBytes(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestTruncateBytesProperties(t *testing.T) {
	for _, s := range samples {
		for max := 0; max <= len(s)+4; max++ {
			checkTruncateBytes(t, s, max)
		}
	}
}

// checkTruncateBytes checks every promise of TruncateBytes for one input.
func checkTruncateBytes(t *testing.T, s string, max int) {
	t.Helper()
	got := message.TruncateBytes(s, max)
	if len(s) <= max {
		if got != s {
			t.Fatalf("TruncateBytes(%q, %d) = %q, want it unchanged", s, max, got)
		}
		return
	}
	if len(got) > max {
		t.Fatalf("TruncateBytes(%q, %d) = %q: %d bytes", s, max, got, len(got))
	}
	if max < len(message.Ellipsis) {
		if got != "" {
			t.Fatalf("TruncateBytes(%q, %d) = %q, want empty (no room for …)", s, max, got)
		}
		return
	}
	head, ok := strings.CutSuffix(got, message.Ellipsis)
	if !ok {
		t.Fatalf("TruncateBytes(%q, %d) = %q: cut without …", s, max, got)
	}
	if !strings.HasPrefix(s, head) {
		t.Fatalf("TruncateBytes(%q, %d) = %q: not a prefix of the input", s, max, got)
	}
	if !utf8.ValidString(s) {
		return // no characters to keep whole
	}
	if !utf8.ValidString(got) || !utf8.RuneStart(s[len(head)]) {
		t.Fatalf("TruncateBytes(%q, %d) = %q: cut inside a character", s, max, got)
	}
	// It keeps as much as fits: one more character would not.
	if _, size := utf8.DecodeRuneInString(s[len(head):]); len(head)+size+len(message.Ellipsis) <= max {
		t.Fatalf("TruncateBytes(%q, %d) = %q: cut more than needed", s, max, got)
	}
}

func FuzzTruncateBytes(f *testing.F) {
	for _, s := range samples {
		f.Add(s, 0)
		f.Add(s, 3)
		f.Add(s, 4)
		f.Add(s, len(s)/2)
	}
	f.Add("\xff\xfe invalid", 5)
	f.Add(strings.Repeat("界", 100), 100)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 {
			max = -(max + 1) // no overflow at math.MinInt
		}
		max %= len(s) + 8
		checkTruncateBytes(t, s, max)
	})
}

func TestFit(t *testing.T) {
	esc := func(r rune) string {
		switch r {
		case '<':
			return "&lt;"
		case '&':
			return "&amp;"
		}
		return string(r)
	}
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"a<b", 10, "a&lt;b"},
		{"a<b", 6, "a&lt;b"},
		{"a<b", 5, "a…"},        // "&lt;" does not fit with the ellipsis, and is not split
		{"<<<", 9, "&lt;&lt;…"}, // 4+4+1
		{"标题标题", 3, "标题…"},
		{"", 3, ""},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := message.Fit(tt.s, tt.max, esc); got != tt.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
	// Bytes: "标" is 3 bytes, the ellipsis too.
	if got := message.FitBytes("标题标题", 9, nil); got != "标题…" {
		t.Errorf("FitBytes = %q", got)
	}
	if got := message.FitBytes("标题", 6, nil); got != "标题" {
		t.Errorf("FitBytes within the limit = %q", got)
	}
	if got := message.FitBytes("abcdef", 2, nil); got != "" {
		t.Errorf("FitBytes with no room for the ellipsis = %q", got)
	}
}

func TestEscapeHTML(t *testing.T) {
	if got, want := message.Fit(`a<b>&c"'`, 100, message.EscapeHTML), `a&lt;b&gt;&amp;c"'`; got != want {
		t.Errorf("EscapeHTML: %q, want %q", got, want)
	}
}

func TestOneLine(t *testing.T) {
	if got, want := message.Fit("a\nb\tc\x00d\x1b\u0085e\u2028f", 100, message.OneLine), "a b cde\u2028f"; got != want {
		t.Errorf("OneLine: %q, want %q", got, want)
	}
}

func TestPercentEncode(t *testing.T) {
	notLetter := func(c byte) bool { return c < 'a' || c > 'z' }
	if got, want := message.PercentEncode("a b(é)z", notLetter), "a%20b%28%C3%A9%29z"; got != want {
		t.Errorf("PercentEncode: %q, want %q", got, want)
	}
}
