package herald

import (
	"strings"
)

// IMPlatform names a chat platform whose IM app can send direct messages
// (SPEC §5). The names are the keys of GET /v1/settings/im.
type IMPlatform string

// The IM integrations of SPEC §5.
const (
	IMSlack    IMPlatform = "slack"
	IMTeams    IMPlatform = "teams"
	IMDingTalk IMPlatform = "dingtalk"
	IMFeishu   IMPlatform = "feishu"
	IMLark     IMPlatform = "lark"
	IMWeCom    IMPlatform = "wecom"
)

// IMPlatforms lists every IM integration, in the order of SPEC §5.
var IMPlatforms = []IMPlatform{IMSlack, IMTeams, IMDingTalk, IMFeishu, IMLark, IMWeCom}

// ParseIMPlatform reads an IM platform name, or returns an INVALID_ARGUMENT
// error naming field.
func ParseIMPlatform(field, s string) (IMPlatform, error) {
	for _, p := range IMPlatforms {
		if string(p) == s {
			return p, nil
		}
	}
	names := make([]string, len(IMPlatforms))
	for i, p := range IMPlatforms {
		names[i] = string(p)
	}
	return "", Invalidf(field, "must be one of %s, got %q", strings.Join(names, ", "), s)
}

// WebhookType is the webhook type whose direct messages go through p.
func (p IMPlatform) WebhookType() WebhookType {
	return WebhookType(strings.ToUpper(string(p)))
}

// IMPlatformOf returns the IM platform of a webhook type, and false for
// types without direct messages.
func IMPlatformOf(t WebhookType) (IMPlatform, bool) {
	if !t.SupportsDirectMessage() {
		return "", false
	}
	return IMPlatform(strings.ToLower(string(t))), true
}

// IMSettings are one platform's IM app credentials. Each platform uses
// some of the fields (SPEC §5); secrets (Token, ClientSecret, AppSecret,
// Secret) are write-only: the store seals them and the API never returns
// them.
type IMSettings struct {
	// Slack: the bot token, xoxb-….
	Token string `json:"token,omitempty"`
	// Teams: the Entra ID tenant, the app registration's client id and
	// secret. DingTalk: ClientID and ClientSecret are the app's key and
	// secret.
	TenantID     string `json:"tenantId,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// DingTalk: the robot that sends one-to-one messages.
	RobotCode string `json:"robotCode,omitempty"`
	// Feishu and Lark: the app's id and secret.
	AppID     string `json:"appId,omitempty"`
	AppSecret string `json:"appSecret,omitempty"`
	// WeCom: the corporation, the self-built app's agent id and secret.
	CorpID  string `json:"corpId,omitempty"`
	AgentID int64  `json:"agentId,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

// Configured reports whether every field p needs is set.
func (s *IMSettings) Configured(p IMPlatform) bool {
	if s == nil {
		return false
	}
	switch p {
	case IMSlack:
		return s.Token != ""
	case IMTeams:
		return s.TenantID != "" && s.ClientID != "" && s.ClientSecret != ""
	case IMDingTalk:
		return s.ClientID != "" && s.ClientSecret != "" && s.RobotCode != ""
	case IMFeishu, IMLark:
		return s.AppID != "" && s.AppSecret != ""
	case IMWeCom:
		return s.CorpID != "" && s.AgentID > 0 && s.Secret != ""
	}
	return false
}
