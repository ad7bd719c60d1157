package dingtalk

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/dingtalk/dingtalktest"
	"github.com/heraldhq/herald/platform/platformtest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, dingtalktest.Check)
}

// rendered is a payload as the tests read it.
type rendered struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		AtMobiles []string `json:"atMobiles"`
		IsAtAll   *bool    `json:"isAtAll"`
	} `json:"at"`
}

func parse(t testing.TB, payload []byte) rendered {
	t.Helper()
	r := platformtest.Parse[rendered](t, payload)
	if r.MsgType != "markdown" || r.At.AtMobiles == nil || r.At.IsAtAll == nil || *r.At.IsAtAll {
		t.Fatalf("payload lacks msgtype markdown, at.atMobiles or isAtAll false:\n%s", payload)
	}
	return r
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title,
// description, linked subject, project, actor, environment and stage,
// failed tasks, issue details, the View link and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		r := parse(t, payload)
		text := r.Markdown.Text
		if r.Markdown.Title != m.Heading() {
			t.Errorf("title %q, want %q", r.Markdown.Title, m.Heading())
		}
		if head := "### " + message.LevelEmoji(typ.Level()) + " " + m.Heading() + "\n\n"; !strings.HasPrefix(text, head) || message.LevelEmoji(typ.Level()) == "" {
			t.Errorf("text does not start with %q:\n%s", head, text)
		}
		want := []string{
			"\n\n" + neutralise(m.Description, true) + "\n\n",
			"**" + m.SubjectKind + "**: [" + m.Subject + "](" + m.Link + ")",
			"**Project**: Payments",
			"**Actor**: Alice Chen",
			"**Environment**: prod",
			"\n\n[View](" + m.Link + ")\n\n",
		}
		if typ.IsPipeline() {
			want = append(want, "**Stage**: prod-eu")
		} else {
			want = append(want, "\n\n> Speeds up the nightly reconciliation report.  \n> Reviewed with the DBA team.\n\n")
		}
		if typ == herald.IssueSentBack {
			want = append(want, "rollback plan & run it on ＜staging> first.")
		}
		if typ == herald.PipelineFailed {
			if n := strings.Count(text, "\n- Migrate shard"); n != message.MaxFailedTasks {
				t.Errorf("%d failed tasks listed, want %d", n, message.MaxFailedTasks)
			}
			want = append(want, "**Failed tasks**\n\n- Migrate shard 1 (ledger-eu-1): ERROR: relation \"ledger_entries\" is locked (timeout after 30s)\n", "\n- and 2 more\n\n")
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("text lacks %q:\n%s", w, text)
			}
		}
		if !strings.HasSuffix(text, "\n\nHerald · Payments") {
			t.Errorf("text does not end with the footer:\n%s", text)
		}
		if typ == herald.IssueApprovalRequested {
			if got := r.At.AtMobiles; len(got) != 1 || got[0] != "13800138000" || !strings.Contains(text, "\n\n@13800138000\n\n") {
				t.Errorf("the approver with a phone is not mentioned: %v\n%s", got, text)
			}
		} else if len(r.At.AtMobiles) != 0 {
			t.Errorf("mentions %v in a message whose recipients have no phone", r.At.AtMobiles)
		}
		checkMarkup(t, string(typ), text)
	})
}

func TestMarkdownIsRenderWithoutMentions(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	title, text := Markdown(m)
	r := parse(t, must(Render(m)))
	if title != r.Markdown.Title || strings.Replace(r.Markdown.Text, "\n\n@13800138000", "", 1) != text {
		t.Errorf("Markdown gave %q and\n%s\nRender gave %q and\n%s", title, text, r.Markdown.Title, r.Markdown.Text)
	}
	if strings.Contains(text, "@") {
		t.Errorf("Markdown mentions someone:\n%s", text)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestNeutralise(t *testing.T) {
	tests := []struct {
		in        string
		lineStart bool
		want      string
	}{
		{"plain text 中文", true, "plain text 中文"},
		{"# head", true, "＃ head"},
		{"# not at a line start", false, "# not at a line start"},
		{"a\n## b\n> c\n- d\n+ e\n=== \n1. f\n12) g", false, "a\n＃# b\n＞ c\n－ d\n＋ e\n＝== \n1． f\n12） g"},
		{"1.5 million rows\n2026.03.14", true, "1.5 million rows\n2026.03.14"},
		{"3.", true, "3．"},
		{"4.\tx", true, "4． x"},
		{"**bold** *it* `code` ~~gone~~", false, "∗∗bold∗∗ ∗it∗ ˋcodeˋ ～～gone～～"},
		{"[link](https://x) ![img](https://x/a.png)", false, "［link］(https://x) !［img］(https://x/a.png)"},
		{`<font color="red">x</font> <https://a>`, false, `＜font color="red">x＜/font> ＜https://a>`},
		{"ledger_entries _it_ __b__ a_", false, "ledger_entries ＿it＿ ＿＿b＿＿ a＿"},
		{`C:\path\ and a\`, false, `C:＼path＼ and a＼`},
		{"    code block\n\t\tindented", true, "code block\nindented"},
		{"a\r\nb\rc\u2028d", false, "a\nb\nc\nd"},
		{"a\x00b\x1bc\u202ed\u2066e\x7ff\ufeff", false, "abcdef"},
		{"tab\tinside", false, "tab inside"},
		{"bad \xff utf-8", false, "bad \uFFFD utf-8"},
		{"\n  # after blanks", false, "\n＃ after blanks"},
		{"@13800138000 & &lt;", false, "@13800138000 & &lt;"},
	}
	for _, tt := range tests {
		if got := neutralise(tt.in, tt.lineStart); got != tt.want {
			t.Errorf("neutralise(%q, %v) = %q, want %q", tt.in, tt.lineStart, got, tt.want)
		}
	}
}

func TestLinkTarget(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://console.example.com/p/1?x=1&y=2#frag", "https://console.example.com/p/1?x=1&y=2#frag", true},
		{"HTTP://Example.com/a", "HTTP://Example.com/a", true},
		{"https://x.example/a b(c)[d]<e>\"f\\g\n|h`", "https://x.example/a%20b%28c%29%5Bd%5D%3Ce%3E%22f%5Cg%0A%7Ch%60", true},
		{"https://x.example/中文", "https://x.example/%E4%B8%AD%E6%96%87", true},
		{"javascript:alert(1)", "", false},
		{"dingtalk://dingtalkclient/page/link?url=x", "", false},
		{"", "", false},
		{"https://x.example/" + strings.Repeat("a", maxURL), "", false},
		{"https://x.example/" + strings.Repeat("a", maxURL-len("https://x.example/")), "https://x.example/" + strings.Repeat("a", maxURL-len("https://x.example/")), true},
	}
	for _, tt := range tests {
		got, ok := linkTarget(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("linkTarget(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRenderUnsafeLink(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueCreated)
	m.Link = "javascript:alert(1)"
	r := parse(t, must(Render(m)))
	if strings.Contains(r.Markdown.Text, "javascript") || strings.Contains(r.Markdown.Text, "[View]") {
		t.Errorf("an unsafe link was rendered:\n%s", r.Markdown.Text)
	}
	if !strings.Contains(r.Markdown.Text, "**Issue**: Add index on ledger_entries (created_at)  \n") {
		t.Errorf("the subject is not shown unlinked:\n%s", r.Markdown.Text)
	}
}

func TestMobile(t *testing.T) {
	tests := []struct {
		phone, want string
		ok          bool
	}{
		{"+8613800138000", "13800138000", true},
		{"+85212345678", "+852-12345678", true},
		{"+85362345678", "+853-62345678", true},
		{"+886912345678", "+886-912345678", true},
		{"+14155550123", "+1-4155550123", true},
		{"+79161234567", "+7-9161234567", true},
		{"+447700900123", "+44-7700900123", true},
		{"+6591234567", "+65-91234567", true},
		{"+35312345678", "+353-12345678", true},
		{"+4201234567890", "+420-1234567890", true},
		{"+2348012345678", "+234-8012345678", true},
		{"13800138000", "13800138000", true},
		{"", "", false},
		{"+86 138 0013 8000", "", false},
		{"+86-13800138000", "", false},
		{"+0123456789", "", false},
		{"alice@example.com", "", false},
	}
	for _, tt := range tests {
		got, ok := Mobile(tt.phone)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Mobile(%q) = %q, %v; want %q, %v", tt.phone, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMobilesDeduplicatesAndCaps(t *testing.T) {
	users := []herald.User{{Phone: "+8613800138000"}, {Email: "no-phone@example.com"}, {Phone: "13800138000"}, {Phone: "bad"}}
	for i := range 30 {
		users = append(users, herald.User{Phone: fmt.Sprintf("+86139%08d", i)})
	}
	got := Mobiles(users)
	if len(got) != MaxMentions || got[0] != "13800138000" || got[1] != "13900000000" || got[MaxMentions-1] != "13900000018" {
		t.Errorf("Mobiles = %v", got)
	}
	if got := Mobiles(nil); got == nil || len(got) != 0 {
		t.Errorf("Mobiles(nil) = %#v, want an empty list", got)
	}
}

// TestRenderMentionsWork sends recipients with mainland and other phones
// to the fake, which records whether each mention would notify.
func TestRenderMentionsWork(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	m.Recipients = []herald.User{
		{Name: "Bob", Phone: "+8613800138000"},
		{Name: "Hong Kong", Phone: "+85212345678"},
		{Name: "US", Phone: "+14155550123"},
		{Name: "No phone", Email: "dana@example.com"},
		{Name: "Bob again", Phone: "+8613800138000"},
		{Name: "Bob's prefix", Phone: "+861380013800"},
	}
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Keyword: "Herald"})
	if res := sendTo(hook, "", m, time.Time{}); res.Outcome != "SUCCESS" {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	got := srv.Mentions(hook)
	if len(got) != 1 {
		t.Fatalf("mentions of %d messages, want 1", len(got))
	}
	want := []string{"13800138000", "+852-12345678", "+1-4155550123", "1380013800"}
	if len(got[0]) != len(want) {
		t.Fatalf("mentions %+v, want %v", got[0], want)
	}
	for i, mention := range got[0] {
		if mention.Mobile != want[i] || !mention.InText {
			t.Errorf("mention %d: %+v, want %s written in the text", i, mention, want[i])
		}
		if wantEffective := i < 3; mention.Effective() != wantEffective {
			t.Errorf("mention %d: %+v effective %v, want %v", i, mention, mention.Effective(), wantEffective)
		}
	}
}

// markup is text that stresses DingTalk markdown, JSON and byte counting.
const markup = "# 标题\n> 引用 **粗体** _斜_ `码` [链接](https://evil.example) <font color=red>红</font> \"引号\" \\ 中文字符😀\n- 列表\n1. 一\n"

// TestRenderLongMarkupDescriptionIsAccepted sends a 10,000-character
// description of markup and Chinese to the fake DingTalk.
func TestRenderLongMarkupDescriptionIsAccepted(t *testing.T) {
	m := platformtest.LongMessage(herald.PipelineFailed, markup)
	m.Title, m.Subject = m.Description, m.Description
	m.Recipients = []herald.User{{Phone: "+8613800138000"}}
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Secret: testSecret, Keyword: "Herald"})
	res := sendTo(hook, testSecret, m, time.Time{})
	r := parse(t, platformtest.CheckDelivered(t, res, srv, hook))
	checkMarkup(t, "long markup", r.Markdown.Text)
	if n := utf8.RuneCountInString(r.Markdown.Title); n != MaxTitle || !strings.HasSuffix(r.Markdown.Title, message.Ellipsis) {
		t.Errorf("title of %d characters %q, want it cut to %d with …", n, r.Markdown.Title, MaxTitle)
	}
	if !strings.Contains(r.Markdown.Text, "…") || !strings.Contains(r.Markdown.Text, "中文字符") || !strings.Contains(r.Markdown.Text, "@13800138000") {
		t.Errorf("text lacks the cut Chinese description or the mention:\n%s", r.Markdown.Text)
	}
	if mentions := srv.Mentions(hook); len(mentions) != 1 || len(mentions[0]) != 1 || !mentions[0][0].Effective() {
		t.Errorf("mentions %+v", mentions)
	}
}

// TestRenderShrinksForJSON fills the text with characters that JSON
// escapes, so that the body outgrows the text.
func TestRenderShrinksForJSON(t *testing.T) {
	m := platformtest.FixtureMessage(herald.PipelineFailed)
	m.Description = strings.Repeat(`"`, 30000)
	m.Details = strings.Repeat("\u2029\"", 3000)
	body := must(Render(m))
	if len(body) > MaxBody {
		t.Errorf("body of %d bytes", len(body))
	}
	if err := dingtalktest.Check(body); err != nil {
		t.Error(err)
	}
	checkPayload(t, "quotes", m, body)
}

// TestRenderRandomMessages renders random messages of every kind and
// checks what every payload must satisfy.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessages(t, 300, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue # created", "a **b** [c](d) <e>", "subject](x)", "https://x.example/a)b", "details\n> quote\n# h", "task: `err`", "deploy_bot", "+8613800138000", 7)
	f.Add("", "", "", "", "", "", "", "", 0)
	f.Add(strings.Repeat("界", 200), strings.Repeat(`"`, 20000), strings.Repeat("[", 3000), "https://x.example/"+strings.Repeat("(", 2990), strings.Repeat("\n", 1500), strings.Repeat("\\", 3000), "关键词", "+85212345678", 3)
	check := platformtest.RenderAndCheck(Render, checkPayload)
	f.Fuzz(func(t *testing.T, title, desc, subject, link, details, task, keyword, phone string, tasks int) {
		m := platformtest.FuzzMessage(title, desc, subject, link, details, task, tasks)
		m.Keyword, m.Recipients = keyword, []herald.User{{Phone: phone}, {Phone: "+8613800138000"}}
		check(t, "fuzz", m)
	})
}

// checkPayload checks what every rendered payload must satisfy: the fake
// DingTalk takes it; it is valid UTF-8 within Herald's limits; it names
// Herald, starts with the heading and keeps the keyword in the title; every
// mention works; user text made no markup.
func checkPayload(t *testing.T, name string, m *message.Message, payload []byte) {
	t.Helper()
	if !platformtest.CheckPayload(t, name, payload, dingtalktest.Check) {
		return
	}
	r := parse(t, payload)
	title, text := r.Markdown.Title, r.Markdown.Text
	if n := utf8.RuneCountInString(title); n > MaxTitle || len(text) > MaxText || len(payload) > MaxBody {
		t.Errorf("%s: title of %d characters, text of %d bytes, body of %d bytes", name, n, len(text), len(payload))
	}
	if !strings.Contains(text, message.Brand) {
		t.Errorf("%s: text does not name Herald", name)
	}
	if start := message.Truncate(plain(m.Title), 10); !strings.HasPrefix(title, strings.TrimSuffix(start, message.Ellipsis)) {
		t.Errorf("%s: title %q does not start with %q", name, message.Truncate(title, 20), start)
	}
	if head := "### " + message.LevelEmoji(m.Level) + " " + strings.TrimSuffix(message.Truncate(fitLine(m.Title, 1000), 10), message.Ellipsis); !strings.HasPrefix(text, head) {
		t.Errorf("%s: text %q does not start with %q", name, message.Truncate(text, 30), head)
	}
	if kw := plain(m.Keyword); kw != "" && utf8.RuneCountInString(kw) <= maxTitleKeyword && !strings.HasSuffix(title, " · "+kw) {
		t.Errorf("%s: title %q lacks the keyword %q", name, title, kw)
	}
	mentions, err := dingtalktest.ParseMentions(payload)
	if err != nil || len(mentions) != len(Mobiles(m.Recipients)) || len(mentions) > MaxMentions {
		t.Errorf("%s: mentions %+v (%v), want those of %d recipients", name, mentions, err, len(m.Recipients))
	}
	for _, mention := range mentions {
		if !mention.InText {
			t.Errorf("%s: %s is not written in the text", name, mention.Mobile)
		}
	}
	checkMarkup(t, name, text)
}

// checkMarkup checks that the only markup in text is Herald's own: one
// heading line, block starts only in the details quote and the task list,
// links only to the subject and View, bold only around labels, no HTML,
// code, strikethrough or indented lines.
func checkMarkup(t *testing.T, name, text string) {
	t.Helper()
	paragraphs := strings.Split(text, "\n\n")
	for i, p := range paragraphs {
		quote := strings.HasPrefix(p, "> ")
		list := strings.HasPrefix(p, "- ") && i > 0 && paragraphs[i-1] == "**Failed tasks**"
		for j, line := range strings.Split(p, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			first, _ := utf8.DecodeRuneInString(line)
			switch {
			case i == 0 && j == 0 && strings.HasPrefix(line, "### "):
			case quote && strings.HasPrefix(line, "> ") && !blockStart(line[2:]):
			case list && strings.HasPrefix(line, "- ") && !blockStart(line[2:]):
			case strings.HasPrefix(line, "**"): // a label; the count of * below checks it is Herald's
			case blockStart(line):
				t.Errorf("%s: user text starts a block: %q", name, message.Truncate(line, 40))
				return
			case first == ' ':
				t.Errorf("%s: an indented line: %q", name, message.Truncate(line, 40))
				return
			}
		}
	}
	if strings.ContainsAny(text, "<`~\\") {
		t.Errorf("%s: HTML, code, strikethrough or a backslash in the text", name)
	}
	links := strings.Count(text, "](")
	if strings.Count(text, "[") != links || strings.Count(text, "]") != links || links > 2 {
		t.Errorf("%s: %d link openings for %d links", name, strings.Count(text, "["), links)
	}
	bold := strings.Count(text, "**")
	if strings.Count(text, "*") != 2*bold || bold > 2*7 {
		t.Errorf("%s: emphasis other than Herald's %d bold labels", name, bold/2)
	}
}

// blockStart reports whether a line would start a heading, quote, list,
// rule or setext underline in markdown.
func blockStart(line string) bool {
	if line == "" {
		return false
	}
	if strings.ContainsRune("#>-+=*", rune(line[0])) {
		return true
	}
	i := strings.IndexFunc(line, func(r rune) bool { return r < '0' || r > '9' })
	return i > 0 && (line[i] == '.' || line[i] == ')') && (i+1 == len(line) || line[i+1] == ' ')
}
