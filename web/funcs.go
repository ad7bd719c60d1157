package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// platformInfo is how the console names and marks a webhook type. The marks
// are letters on the platform's colour (in app.css), not the platforms'
// logos.
var platformInfo = map[herald.WebhookType]struct{ Name, Mark string }{
	herald.Slack:      {"Slack", "S"},
	herald.Discord:    {"Discord", "D"},
	herald.Teams:      {"Microsoft Teams", "T"},
	herald.DingTalk:   {"DingTalk", "钉"},
	herald.Feishu:     {"Feishu", "飞"},
	herald.Lark:       {"Lark", "L"},
	herald.WeCom:      {"WeCom", "企"},
	herald.GoogleChat: {"Google Chat", "G"},
	herald.Custom:     {"Custom (Standard Webhooks)", "{}"},
}

var eventLabels = map[herald.EventType]string{
	herald.IssueCreated:           "Issue created",
	herald.IssueApprovalRequested: "Approval requested",
	herald.IssueSentBack:          "Issue sent back",
	herald.IssueApproved:          "Issue approved",
	herald.PipelineFailed:         "Rollout failed",
	herald.PipelineCompleted:      "Rollout completed",
}

var funcs = template.FuncMap{
	"platformName": func(t herald.WebhookType) string { return platformInfo[t].Name },
	"icon": func(t herald.WebhookType) template.HTML {
		return template.HTML(fmt.Sprintf(`<span class="icon t-%s" aria-hidden="true">%s</span>`, //nolint:gosec // constants
			strings.ToLower(string(t)), template.HTMLEscapeString(platformInfo[t].Mark)))
	},
	"types":      func() []herald.WebhookType { return herald.WebhookTypes },
	"events":     func() []herald.EventType { return herald.EventTypes },
	"eventLabel": func(t herald.EventType) string { return eventLabels[t] },
	"supportsDM": func(t string) bool { return herald.WebhookType(t).SupportsDirectMessage() },
	"has":        func(list []string, v any) bool { return slices.Contains(list, fmt.Sprint(v)) },
	"ts": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			}
		}
		return "—"
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"state": func(s any) string {
		return strings.ToLower(fmt.Sprint(s))
	},
	"last": func(name string) string { return name[strings.LastIndexByte(name, '/')+1:] },
	"pct": func(f float64) string {
		if f < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f%%", f*100)
	},
	"dur": func(d time.Duration) string {
		switch {
		case d == 0:
			return "—"
		case d < time.Second:
			return fmt.Sprintf("%d ms", d.Milliseconds())
		case d < time.Minute:
			return fmt.Sprintf("%.1f s", d.Seconds())
		}
		return d.Round(time.Second).String()
	},
	"err": func(errs formErrors, field string) string { return errs[field] },
	"imErr": func(errs map[string]formErrors, platform, field string) string {
		return errs[platform][field]
	},
	"dmLine": func() string {
		return "Direct messages go to the people an event names as recipients — the approvers of an approval request, the creator of a sent-back or approved issue — through the platform's IM app (set it up under IM integrations); when none of them can be reached, the message goes to this webhook's channel."
	},
}
