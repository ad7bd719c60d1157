package slack

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
)

func TestRenderGolden(t *testing.T) {
	platformtest.GoldenRenders(t, "testdata", Render, slacktest.Check)
}

// rendered is the part of a payload the tests read.
type rendered struct {
	Text        string `json:"text"`
	Attachments []struct {
		Color  string `json:"color"`
		Blocks []struct {
			Type     string            `json:"type"`
			Text     *text             `json:"text"`
			Fields   []text            `json:"fields"`
			Elements []json.RawMessage `json:"elements"`
		} `json:"blocks"`
	} `json:"attachments"`
}

func parse(t *testing.T, payload []byte) rendered {
	t.Helper()
	r := platformtest.Parse[rendered](t, payload)
	if len(r.Attachments) != 1 {
		t.Fatalf("got %d attachments, want 1", len(r.Attachments))
	}
	return r
}

// texts returns every text of the payload's blocks, by block type.
func (r rendered) texts() map[string][]string {
	out := map[string][]string{}
	for _, b := range r.Attachments[0].Blocks {
		if b.Text != nil {
			out[b.Type] = append(out[b.Type], b.Text.Text)
		}
		for _, f := range b.Fields {
			out["field"] = append(out["field"], f.Text)
		}
		for _, e := range b.Elements {
			out[b.Type+"-element"] = append(out[b.Type+"-element"], string(e))
		}
	}
	return out
}

// TestRenderShowsEverything checks SPEC §2 on the fixtures: level, title,
// description, linked subject, project, actor, environment and stage,
// failed tasks, the View button and "Herald".
func TestRenderShowsEverything(t *testing.T) {
	platformtest.RenderFixtures(t, Render, func(t *testing.T, m *message.Message, payload []byte) {
		typ := m.Type
		r := parse(t, payload)
		texts := r.texts()
		all := string(payload)

		if got, want := r.Attachments[0].Color, colors[typ.Level()]; got != want || want == "" {
			t.Errorf("colour %q, want %q", got, want)
		}
		header := strings.Join(texts["header"], "")
		if !strings.HasPrefix(header, message.LevelEmoji(typ.Level())+" "+m.Title) {
			t.Errorf("header %q lacks the level emoji and title %q", header, m.Title)
		}
		if m.Keyword != "" && !strings.Contains(header, m.Keyword) {
			t.Errorf("header %q lacks the keyword %q", header, m.Keyword)
		}
		if !strings.HasPrefix(r.Text, m.Title) {
			t.Errorf("fallback text %q does not start with the title", r.Text)
		}
		sections := strings.Join(texts["section"], "\n")
		if d := message.Fit(m.Description, maxSectionText, escape); !strings.Contains(sections, d) {
			t.Errorf("sections lack the description %q:\n%s", d, sections)
		}
		fields := strings.Join(texts["field"], "\n")
		link := "<" + m.Link + "|" + message.Fit(m.Subject, 1000, escape) + ">"
		for _, want := range []string{link, "*Project*\nPayments", "*Actor*\nAlice Chen", "*Environment*\nprod"} {
			if !strings.Contains(fields, want) {
				t.Errorf("fields lack %q:\n%s", want, fields)
			}
		}
		if typ.IsPipeline() && !strings.Contains(fields, "*Stage*\nprod-eu") {
			t.Errorf("fields lack the stage:\n%s", fields)
		}
		if typ == herald.IssueSentBack && !strings.Contains(sections, "rollback plan &amp; run it on &lt;staging&gt; first") {
			t.Errorf("the comment is not in the description, escaped:\n%s", sections)
		}
		if typ == herald.PipelineFailed {
			if n := strings.Count(sections, "\n• Migrate shard"); n != message.MaxFailedTasks {
				t.Errorf("%d failed tasks listed, want %d:\n%s", n, message.MaxFailedTasks, sections)
			}
			if !strings.Contains(sections, "\n• and 2 more") {
				t.Errorf("no \"and 2 more\":\n%s", sections)
			}
		}
		if ctx := strings.Join(texts["context-element"], ""); !strings.Contains(ctx, "Herald · Payments") {
			t.Errorf("context %q lacks Herald and the project", ctx)
		}
		if want := `"url":"` + m.Link + `"`; !strings.Contains(all, want) || !strings.Contains(all, `"text":"View"`) {
			t.Errorf("no View button to %s:\n%s", m.Link, all)
		}
	})
}

func TestFit(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"a<b", 6, "a&lt;b"},
		{"a<b", 5, "a…"}, // "&lt;" must not be cut to "&l"
		{"abcdefghi<", 10, "abcdefghi…"},
		{"a&b", 7, "a&amp;b"},
		{"a&b", 6, "a…"},
		{"中文字符", 3, "中文…"},
		{"😀😀", 2, "😀😀"},
		{"x", 0, ""},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := message.Fit(tt.in, tt.max, escape); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
	if got, want := "> "+message.Fit("a\n<b", 20, escapeQuoted), "> a\n> &lt;b"; got != want {
		t.Errorf("quoted: %q, want %q", got, want)
	}
}

func TestRenderLinkTargetIsSafe(t *testing.T) {
	m := platformtest.FixtureMessage(herald.IssueCreated)
	m.Link = "https://console.example.com/a|b>c<d?x=1&y=2"
	payload, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Join(parse(t, payload).texts()["field"], "\n")
	if want := "<https://console.example.com/a%7Cb%3Ec%3Cd?x=1&amp;y=2|"; !strings.Contains(fields, want) {
		t.Errorf("fields lack the encoded link %q:\n%s", want, fields)
	}
}

// markup is text that stresses escaping and character counting.
const markup = "<&>*_~`|中文字符😀 "

// TestRenderLongMarkupDescriptionIsAccepted sends a 10,000-character
// description of markup and Chinese to the fake Slack, which enforces the
// Block Kit limits.
func TestRenderLongMarkupDescriptionIsAccepted(t *testing.T) {
	m := platformtest.LongMessage(herald.PipelineFailed, markup)
	res, srv, hook := send(t, m, nil)
	msg := platformtest.CheckDelivered(t, res, srv, hook)
	section := parse(t, msg).texts()["section"][0]
	if n := utf8.RuneCountInString(section); n != maxSectionText || !strings.HasSuffix(section, message.Ellipsis) {
		t.Errorf("description section has %d characters ending %q; want it cut to %d with …", n, section[len(section)-10:], maxSectionText)
	}
}

// TestRenderRandomMessages renders random messages (any Unicode, markup,
// 0–20,000-character fields, many failed tasks, long and odd links) and
// checks every Block Kit limit, valid JSON and UTF-8, and that no escape is
// ever cut.
func TestRenderRandomMessages(t *testing.T) {
	platformtest.RandomMessagesOf(t, 400, randomMessage, platformtest.RenderAndCheck(Render, checkPayload))
}

// FuzzRender checks the same properties for texts the fuzzer chooses.
func FuzzRender(f *testing.F) {
	f.Add("Issue <created>", "a & b < c > d", "subject|x>", "https://x.example/|>", "details\n> quote", "task: *err*", 7)
	f.Add(strings.Repeat("界", 200), strings.Repeat("&", 4000), strings.Repeat("<", 3000), "https://x.example/"+strings.Repeat("|", 2990), strings.Repeat("\n", 1500), strings.Repeat(">", 3000), 3)
	platformtest.FuzzMessages(f, platformtest.RenderAndCheck(Render, checkPayload))
}

// checkPayload checks what every rendered payload must satisfy.
func checkPayload(t *testing.T, name string, _ *message.Message, payload []byte) {
	t.Helper()
	if !platformtest.CheckPayload(t, name, payload, slacktest.Check) {
		return
	}
	r := parse(t, payload)
	if n := utf8.RuneCountInString(r.Text); n > maxText {
		t.Errorf("%s: fallback text has %d characters", name, n)
	}
	mrkdwnTexts := []string{r.Text}
	for _, b := range r.Attachments[0].Blocks {
		if b.Text != nil && b.Text.Type == "mrkdwn" {
			mrkdwnTexts = append(mrkdwnTexts, b.Text.Text)
		}
		for _, f := range b.Fields {
			mrkdwnTexts = append(mrkdwnTexts, f.Text)
		}
		if b.Type == "section" && b.Text != nil && strings.HasPrefix(b.Text.Text, "> ") {
			if n := utf8.RuneCountInString(b.Text.Text); n > maxDetails {
				t.Errorf("%s: details have %d characters", name, n)
			}
		}
	}
	for _, s := range mrkdwnTexts {
		for i := strings.IndexByte(s, '&'); i >= 0; i = strings.IndexByte(s, '&') {
			s = s[i:]
			if !strings.HasPrefix(s, "&amp;") && !strings.HasPrefix(s, "&lt;") && !strings.HasPrefix(s, "&gt;") {
				t.Errorf("%s: a cut or missing escape at %q", name, message.Truncate(s, 12))
				return
			}
			s = s[1:]
		}
	}
}

var (
	// runePools are what random text is made of.
	runePools = [][]rune{
		[]rune("abcXYZ 019.,-"),
		[]rune("<&>*_~`|\n"),
		[]rune("中文字符测试发布失败"),
		[]rune("😀🚀✅❌ℹ️⚠️\u200d\u0301"),
	}
	lengths = []int{0, 1, 5, 40, 149, 150, 151, 1000, 1999, 2000, 2001, 2999, 3000, 3001, 8000, 20000}
)

func randomText(rng *rand.Rand) string {
	n := lengths[rng.IntN(len(lengths))]
	if rng.IntN(3) > 0 {
		n = rng.IntN(60) // mostly short, like real titles
	}
	var b strings.Builder
	for range n {
		pool := runePools[rng.IntN(len(runePools))]
		b.WriteRune(pool[rng.IntN(len(pool))])
	}
	return b.String()
}

func randomMessage(rng *rand.Rand) *message.Message {
	levels := []herald.Level{herald.LevelInfo, herald.LevelWarn, herald.LevelError, herald.LevelSuccess}
	m := &message.Message{
		Type:        herald.EventTypes[rng.IntN(len(herald.EventTypes))],
		Level:       levels[rng.IntN(len(levels))],
		Title:       randomText(rng),
		Description: randomText(rng),
		Subject:     randomText(rng),
		SubjectKind: "Issue",
		Project:     randomText(rng),
		Actor:       randomText(rng),
		Environment: randomText(rng),
		Stage:       randomText(rng),
		Details:     randomText(rng),
		Keyword:     randomText(rng),
	}
	if rng.IntN(4) > 0 {
		m.Link = "https://console.example.com/" + randomText(rng)
	}
	for range rng.IntN(message.MaxFailedTasks + 1) {
		m.FailedTasks = append(m.FailedTasks, herald.FailedTask{Name: randomText(rng), Database: randomText(rng), Error: randomText(rng)})
	}
	if len(m.FailedTasks) == message.MaxFailedTasks {
		m.MoreTasks = rng.IntN(1000)
	}
	return m
}

func TestRenderLongLinks(t *testing.T) {
	for _, tt := range []struct {
		n                    int
		linkedField, hasView bool
	}{{100, true, true}, {2500, false, true}, {3500, false, false}} {
		m := platformtest.FixtureMessage(herald.IssueCreated)
		m.Link = "https://console.example.com/" + strings.Repeat("p", tt.n)
		payload, err := Render(m)
		if err != nil {
			t.Fatal(err)
		}
		checkPayload(t, fmt.Sprintf("link of %d", tt.n), m, payload)
		texts := parse(t, payload).texts()
		if linked := strings.HasPrefix(texts["field"][0], "*Issue*\n<https://"); linked != tt.linkedField {
			t.Errorf("link of %d: subject linked %v, want %v", tt.n, linked, tt.linkedField)
		}
		if hasView := len(texts["actions-element"]) == 1; hasView != tt.hasView {
			t.Errorf("link of %d: View button %v, want %v", tt.n, hasView, tt.hasView)
		}
	}
}
