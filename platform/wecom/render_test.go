package wecom

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, wecomtest.Check)
}

// content returns the markdown content of a payload, failing the test when
// the payload is not a markdown message.
func content(t testing.TB, payload []byte) string {
	t.Helper()
	var p struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.MsgType != "markdown" || p.Markdown == nil {
		t.Fatalf("payload is not a markdown message (%v):\n%s", err, payload)
	}
	return p.Markdown.Content
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title
// and keyword, description, linked subject, project, actor, environment and
// stage, failed tasks, issue details, the View link and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	colors := map[herald.Level]string{
		herald.LevelInfo: "comment", herald.LevelWarn: "warning", herald.LevelError: "warning", herald.LevelSuccess: "info",
	}
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		c := content(t, payload)
		lines := strings.Split(c, "\n")
		heading := `<font color="` + colors[typ.Level()] + `">**` + message.LevelEmoji(typ.Level()) + " " + m.Heading() + "**</font>"
		if lines[0] != heading {
			t.Errorf("first line %q, want %q", lines[0], heading)
		}
		if typ == herald.IssueApprovalRequested && !strings.Contains(lines[0], " · "+platformtest.FixtureKeyword) {
			t.Errorf("heading %q lacks the keyword", lines[0])
		}
		if last := lines[len(lines)-1]; last != `<font color="comment">Herald · Payments</font>` {
			t.Errorf("last line %q, want the footer", last)
		}
		want := []string{
			"**Project:** Payments",
			"**Actor:** Alice Chen",
			"**Environment:** prod",
			"[View](" + m.Link + ")",
		}
		if typ == herald.IssueSentBack {
			want = append(want, "Alice Chen sent back the issue: Please add a rollback plan ＆ run it on ＜staging＞ first.")
		} else {
			want = append(want, m.Description)
		}
		if typ.IsPipeline() {
			want = append(want, "**Rollout:** [Release 2026.03.14]("+m.Link+")", "**Stage:** prod-eu")
		} else {
			want = append(want, "**Issue:** [Add index on ledger_entries (created_at)]("+m.Link+")",
				"> Speeds up the nightly reconciliation report.", "> Reviewed with the DBA team.")
		}
		if typ == herald.PipelineFailed {
			want = append(want, "**Failed tasks:**", "• and 2 more",
				`• Migrate shard 5 (ledger-eu-5): ERROR: relation "ledger_entries" is locked (timeout after 30s)`)
		}
		for _, w := range want {
			if !contains(lines, w) {
				t.Errorf("no line %q in:\n%s", w, c)
			}
		}
		if n := strings.Count(c, "\n• Migrate shard"); typ == herald.PipelineFailed && n != message.MaxFailedTasks {
			t.Errorf("%d failed tasks listed, want %d", n, message.MaxFailedTasks)
		}
		if typ != herald.PipelineFailed && strings.Contains(c, "Failed tasks") {
			t.Errorf("failed tasks listed for %s", typ)
		}
	})
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestNeutralise(t *testing.T) {
	tests := []struct {
		name, in, inline, block string
	}{
		{"plain", "Add index", "Add index", "Add index"},
		{"font tag", `<font color="info">ok</font>`, `＜font color="info"＞ok＜/font＞`, `＜font color="info"＞ok＜/font＞`},
		{"mention", "<@zhangsan> <@all>", "＜@zhangsan＞ ＜@all＞", "＜@zhangsan＞ ＜@all＞"},
		{"bold and code", "**b** `c` *i*", "＊＊b＊＊ ｀c｀ ＊i＊", "＊＊b＊＊ ｀c｀ ＊i＊"},
		{"link", "[x](https://evil.example)", "［x］(https://evil.example)", "［x］(https://evil.example)"},
		{"backslash", `a\]b`, `a＼］b`, `a＼］b`},
		{"entity", "&lt;font&gt;", "＆lt;font＆gt;", "＆lt;font＆gt;"},
		{"heading and quote", "# head\n> quote\n  ## two\nissue #7", "# head ＞ quote   ## two issue #7", "＃ head\n＞ quote\n  ＃＃ two\nissue #7"},
		{"underscores", "_it_ __init__.py ledger_entries a_ _b", "＿it＿ ＿＿init＿＿.py ledger_entries a＿ ＿b", "＿it＿ ＿＿init＿＿.py ledger_entries a＿ ＿b"},
		{"line breaks", " a\r\nb\rc\td\u2028e ", "a b c d e", "a\nb\nc d e"},
		{"controls", "a\x00b\x1bc\u0085d\x7f", "abcd", "abcd"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
		{"Chinese", "数据库变更审批 🚀", "数据库变更审批 🚀", "数据库变更审批 🚀"},
	}
	for _, tt := range tests {
		if got := message.FitBytes(inline(tt.in), 1000, neutral); got != tt.inline {
			t.Errorf("%s: inline %q, want %q", tt.name, got, tt.inline)
		}
		if got := message.FitBytes(block(tt.in), 1000, neutral); got != tt.block {
			t.Errorf("%s: block %q, want %q", tt.name, got, tt.block)
		}
	}
	if got := "> " + message.FitBytes(block("a\n# b\n<c>"), 100, quoted); got != "> a\n> ＃ b\n> ＜c＞" {
		t.Errorf("quoted %q", got)
	}
}

func TestLinkTarget(t *testing.T) {
	tests := []struct {
		link, want string
		ok         bool
	}{
		{"https://console.example.com/issues/1?a=1&b=x_y#top", "https://console.example.com/issues/1?a=1&b=x_y#top", true},
		{"https://x.example/a b(c)[d]*e<f>\\g`h\"i|j{k}", "https://x.example/a%20b%28c%29%5Bd%5D%2Ae%3Cf%3E%5Cg%60h%22i%7Cj%7Bk%7D", true},
		{"https://x.example/变更", "https://x.example/%E5%8F%98%E6%9B%B4", true},
		{"http://x.example/%20", "http://x.example/%20", true},
		{" https://x.example/ ", "https://x.example/", true},
		{"javascript:alert(1)", "", false},
		{"https:///nohost", "", false},
		{"", "", false},
		{"https://x.example/" + strings.Repeat("a", maxLinkURL), "", false},
		{"https://x.example/" + strings.Repeat("(", maxLinkURL/3), "", false}, // too long once encoded
	}
	for _, tt := range tests {
		got, ok := linkTarget(tt.link)
		if got != tt.want || ok != tt.ok {
			t.Errorf("linkTarget(%.40q) = %.60q %v, want %.60q %v", tt.link, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRenderNoInjection fills every field with WeCom markup and checks that
// the only tags, links and bold are Herald's own.
func TestRenderNoInjection(t *testing.T) {
	const evil = "</font><font color=\"info\">ok</font> <@all> [click](https://evil.example) **b** `c`\n# h\n> q \\"
	m := platformtest.FixtureMessage(herald.PipelineFailed)
	m.Title, m.Description, m.Subject, m.Project, m.Actor, m.Environment, m.Stage, m.Details, m.Keyword = evil, evil, evil, evil, evil, evil, evil, evil, evil
	for i := range m.FailedTasks {
		m.FailedTasks[i] = herald.FailedTask{Name: evil, Database: evil, Error: evil}
	}
	c := Markdown(m)
	if n := strings.Count(c, "<"); n != 4 || strings.Count(c, "<font color=") != 2 || strings.Count(c, "</font>") != 2 {
		t.Errorf("%d tags, want Herald's two font tags:\n%s", n, c)
	}
	if n := strings.Count(c, "]("); n != 2 {
		t.Errorf("%d links, want the subject and View:\n%s", n, c)
	}
	if strings.ContainsAny(c, "`\\") || strings.Contains(c, "](https://evil") || strings.Contains(c, "\n#") {
		t.Errorf("markup left in:\n%s", c)
	}
	if n := strings.Count(c, "*"); n != 7*4 {
		t.Errorf("%d * marks, want Herald's bold heading and six labels", n)
	}
	// Herald's own bold: the heading and the labels, each "**…**" on one line.
	for _, l := range strings.Split(c, "\n") {
		if n := strings.Count(l, "**"); n != 0 && n != 2 {
			t.Errorf("line %q has %d ** marks", l, n)
		}
	}
}

// markup is text that stresses neutralising and byte counting.
const markup = "<font>*_`[]()#>\\&@中文字符😀 "

// TestRenderLongMarkupDescriptionIsAccepted sends a 10,000-character
// description of markup and Chinese to the fake WeCom, which enforces the
// 4096-byte limit.
func TestRenderLongMarkupDescriptionIsAccepted(t *testing.T) {
	m := platformtest.LongMessage(herald.PipelineFailed, markup)
	srv := wecomtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	c := wecomtest.Content(platformtest.CheckDelivered(t, platformtest.Send(New(), hook, m), srv, hook))
	lines := strings.Split(c, "\n")
	if len(c) > MaxContentBytes || !strings.HasPrefix(lines[0], `<font color="warning">**❌ Rollout failed**`) ||
		lines[len(lines)-1] != `<font color="comment">Herald · Payments</font>` {
		t.Errorf("content of %d bytes without its heading or footer:\n%s", len(c), c)
	}
	if desc := lines[1]; len(desc) > maxDescription || !strings.HasSuffix(desc, message.Ellipsis) || !strings.HasPrefix(desc, "＜font＞＊＿｀［］()#＞＼＆@中文字符😀 ") {
		t.Errorf("description line of %d bytes: %.80q", len(desc), desc)
	}
	if !contains(lines, "• and 2 more") || !contains(lines, "[View]("+m.Link+")") {
		t.Errorf("tasks or View link missing:\n%s", c)
	}
}

// TestRenderBudget fills every field to the brim, with a long link, and
// checks that the fixed parts and "and N more" survive within the limit,
// also at 2048 bytes (in case WeCom's app messages are limited so).
func TestRenderBudget(t *testing.T) {
	long := strings.Repeat("界<", 3000)
	for _, linkLen := range []int{0, 100, 1000, 2000, 3000} {
		for _, limit := range []int{MaxContentBytes, 2048} {
			m := platformtest.FixtureMessage(herald.PipelineFailed)
			m.Title, m.Keyword, m.Description, m.Subject, m.Project, m.Actor, m.Environment, m.Stage, m.Details = long, long, long, long, long, long, long, long, long
			for i := range m.FailedTasks {
				m.FailedTasks[i].Error = long
			}
			m.MoreTasks = 995
			if linkLen > 0 {
				m.Link = "https://console.example.com/" + strings.Repeat("p", linkLen)
			}
			name := fmt.Sprintf("link %d, limit %d", linkLen, limit)
			c := render(m, limit)
			lines := strings.Split(c, "\n")
			if len(c) > limit || !utf8.ValidString(c) {
				t.Errorf("%s: %d bytes", name, len(c))
			}
			// Both the title and the keyword are cut, the keyword less.
			if !strings.HasPrefix(lines[0], `<font color="warning">**❌ 界＜`) || !strings.Contains(lines[0], "… · 界＜") || !strings.HasSuffix(lines[0], "…**</font>") {
				t.Errorf("%s: heading %.80q", name, lines[0])
			}
			if !strings.HasPrefix(lines[len(lines)-1], `<font color="comment">Herald · 界＜`) {
				t.Errorf("%s: footer %.80q", name, lines[len(lines)-1])
			}
			if strings.Contains(c, "**Failed tasks:**") != contains(lines, "• and 995 more") {
				t.Errorf("%s: failed tasks without \"and 995 more\":\n%s", name, c)
			}
			_, linkable := linkTarget(m.Link)
			if hasView := strings.Contains(c, "[View]("); limit == MaxContentBytes && hasView != (linkable && linkLen <= maxLinkURL) {
				t.Errorf("%s: View link %v", name, hasView)
			}
			if len(lines) < 3 {
				t.Errorf("%s: only %d lines", name, len(lines))
			}
		}
	}
}

// TestRenderRandomMessages renders random messages (any text, markup, huge
// fields, many failed tasks, long links, keywords) and checks WeCom's rules
// and Herald's.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 400, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b <@all> **c**", "subject](x)", "https://x.example/(a) b", "details\n# h\n> q", "task `x`", 7)
	f.Add(strings.Repeat("界", 2000), strings.Repeat("<", 5000), strings.Repeat("_", 3000), "https://x.example/"+strings.Repeat("(", 1500), strings.Repeat("\n", 3000), strings.Repeat("*", 3000), 40)
	f.Add(" ", "\x00\r\n", "\\", "http://", "\u2028", "\xff", 6)
	platformtest.FuzzMessages(f, platformtest.RenderAndCheck(Render, checkPayload))
}

// checkPayload checks what every rendered payload must satisfy: JSON in
// UTF-8 that WeCom takes, content within the limit that starts with the
// heading and ends with the footer, and no markup but Herald's own.
func checkPayload(t *testing.T, name string, m *message.Message, payload []byte) {
	t.Helper()
	if !platformtest.CheckPayload(t, name, payload, wecomtest.Check) {
		return
	}
	c := content(t, payload)
	if len(c) > MaxContentBytes {
		t.Errorf("%s: content has %d bytes", name, len(c))
	}
	lines := strings.Split(c, "\n")
	start := []rune(message.FitBytes(inline(m.Title), maxHeading, neutral))
	if len(start) == 0 {
		start = []rune(fallbackTitle)
	}
	start = start[:min(len(start), 8)]
	if color, emoji := style(m.Level); !strings.HasPrefix(lines[0], `<font color="`+color+`">**`+emoji+" "+string(start)) || !strings.HasSuffix(lines[0], "**</font>") {
		t.Errorf("%s: first line %.100q does not start with the heading %q", name, lines[0], string(start))
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, `<font color="comment">Herald`) || !strings.HasSuffix(last, "</font>") {
		t.Errorf("%s: last line %.100q is not the footer", name, last)
	}
	if n := strings.Count(c, "<"); n != 4 || strings.Count(c, "<font color=") != 2 {
		t.Errorf("%s: %d tags, want Herald's two font tags", name, n)
	}
	if strings.ContainsAny(c, "`\\\x00") || strings.Count(c, "[") != strings.Count(c, "](") || strings.Count(c, "[") > 2 {
		t.Errorf("%s: markup left in user text", name)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "#") || (strings.HasPrefix(l, ">") && !strings.HasPrefix(l, "> ")) {
			t.Errorf("%s: line %.60q starts with markup", name, l)
		}
	}
}
