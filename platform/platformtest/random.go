package platformtest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// markup holds characters that mean something in one platform's markup or
// another: Slack mrkdwn, Markdown (DingTalk, WeCom, Feishu), HTML (Google
// Chat, Teams), Adaptive Card text, JSON.
const markup = "<>&*_~`#[]()|\\\"'!{}+-.=\n\t@:%"

// pieces are the kinds of text RandomText draws from.
var pieces = []string{
	"Add index on orders", "数据库变更审批", "回滚计划", "🚀", "👩‍💻", "éàü", "\u200b", "\u202e", "\x00",
	"<script>alert(1)</script>", "**bold**", "_it_", "[link](https://x)", "<https://a|b>", "&amp;", "${{ x }}",
	"\r\n", "# head", "> quote", "`code`", "<at user_id=\"all\">", "<@U123>", "<font color=\"warning\">",
}

// RandomText returns text of up to n runes mixing plain words, Chinese,
// emoji, control and invisible characters, and every platform's markup.
func RandomText(r *rand.Rand, n int) string {
	out := make([]rune, 0, n)
	for len(out) < n {
		switch r.IntN(4) {
		case 0:
			out = append(out, []rune(pieces[r.IntN(len(pieces))])...)
		case 1:
			out = append(out, rune(markup[r.IntN(len(markup))]))
		case 2:
			out = append(out, rune(0x4e00+r.IntN(0x9fff-0x4e00))) // CJK
		default:
			out = append(out, rune(0x20+r.IntN(0x7e-0x20)))
		}
	}
	return string(out[:n])
}

// randomLen returns a length that is often small and sometimes huge.
func randomLen(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return r.IntN(40)
	case 2:
		return r.IntN(3000)
	}
	return r.IntN(20000)
}

// RandomMessage returns a message of a random event type whose every field
// is random text (see RandomText), sometimes empty and sometimes tens of
// thousands of characters long, with up to 40 failed tasks (the first of
// them possibly huge), up to 100 recipients, and sometimes a keyword and
// links. Property tests render it
// and check the payload against the platform's limits.
func RandomMessage(r *rand.Rand) *message.Message {
	typ := herald.EventTypes[r.IntN(len(herald.EventTypes))]
	p := &herald.Project{ProjectID: "p", Title: RandomText(r, randomLen(r))}
	e := &herald.Event{
		Type:        typ,
		Title:       RandomText(r, randomLen(r)),
		Description: RandomText(r, randomLen(r)),
		Comment:     RandomText(r, randomLen(r)),
		Environment: RandomText(r, randomLen(r)),
		Actor:       &herald.User{Name: RandomText(r, randomLen(r)), Email: "a@example.com"},
	}
	if r.IntN(2) == 0 {
		e.Link = "https://console.example.com/" + strings.Repeat("x", r.IntN(3000)) + "?q=" + fmt.Sprint(r.Int())
	}
	e.Issue = &herald.Issue{ID: "1", Title: RandomText(r, randomLen(r)), Description: RandomText(r, randomLen(r)), URL: "https://console.example.com/issues/1"}
	e.Rollout = &herald.Rollout{ID: "2", Title: RandomText(r, randomLen(r)), Stage: RandomText(r, randomLen(r)), Environment: RandomText(r, randomLen(r))}
	for i := range r.IntN(40) {
		n := r.IntN(300)
		if i == 0 {
			n = randomLen(r) // one task's text may be huge; forty huge ones only cost time
		}
		e.Rollout.FailedTasks = append(e.Rollout.FailedTasks, herald.FailedTask{
			Name: RandomText(r, n), Database: RandomText(r, r.IntN(100)), Error: RandomText(r, n),
		})
	}
	for i := range r.IntN(100) {
		e.Recipients = append(e.Recipients, herald.User{Email: fmt.Sprintf("u%d@example.com", i), Phone: fmt.Sprintf("+86138%08d", r.IntN(1e8))})
	}
	m := message.New(p, e)
	if r.IntN(3) == 0 {
		m = m.WithKeyword(RandomText(r, r.IntN(100)))
	}
	return m
}
