package service

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

// IMView is GET /v1/settings/im: every platform, configured or not, with
// its ids; secrets are never shown.
type IMView struct {
	Slack    SlackIMView    `json:"slack"`
	Teams    TeamsIMView    `json:"teams"`
	DingTalk DingTalkIMView `json:"dingtalk"`
	Feishu   AppIMView      `json:"feishu"`
	Lark     AppIMView      `json:"lark"`
	WeCom    WeComIMView    `json:"wecom"`
}

// SlackIMView shows the Slack integration.
type SlackIMView struct {
	Configured bool `json:"configured"`
}

// TeamsIMView shows the Teams integration.
type TeamsIMView struct {
	Configured bool   `json:"configured"`
	TenantID   string `json:"tenantId,omitempty"`
	ClientID   string `json:"clientId,omitempty"`
}

// DingTalkIMView shows the DingTalk integration.
type DingTalkIMView struct {
	Configured bool   `json:"configured"`
	ClientID   string `json:"clientId,omitempty"`
	RobotCode  string `json:"robotCode,omitempty"`
}

// AppIMView shows the Feishu or Lark integration.
type AppIMView struct {
	Configured bool   `json:"configured"`
	AppID      string `json:"appId,omitempty"`
}

// WeComIMView shows the WeCom integration.
type WeComIMView struct {
	Configured bool   `json:"configured"`
	CorpID     string `json:"corpId,omitempty"`
	AgentID    int64  `json:"agentId,omitempty"`
}

// IMPatch is the body of PATCH /v1/settings/im/{platform}: fields present
// change (an empty string clears one), fields absent keep their value.
type IMPatch interface {
	apply(s *herald.IMSettings) error
}

// SlackIMPatch sets the Slack integration.
type SlackIMPatch struct {
	Token *string `json:"token,omitempty" writeOnly:"true" doc:"The bot token, xoxb-…"`
}

// TeamsIMPatch sets the Teams integration.
type TeamsIMPatch struct {
	TenantID     *string `json:"tenantId,omitempty" doc:"Directory (tenant) ID"`
	ClientID     *string `json:"clientId,omitempty" doc:"Application (client) ID"`
	ClientSecret *string `json:"clientSecret,omitempty" writeOnly:"true"`
}

// DingTalkIMPatch sets the DingTalk integration.
type DingTalkIMPatch struct {
	ClientID     *string `json:"clientId,omitempty" doc:"The app's Client ID (AppKey)"`
	ClientSecret *string `json:"clientSecret,omitempty" writeOnly:"true"`
	RobotCode    *string `json:"robotCode,omitempty" doc:"The app robot's RobotCode"`
}

// AppIMPatch sets the Feishu or Lark integration.
type AppIMPatch struct {
	AppID     *string `json:"appId,omitempty" doc:"cli_…"`
	AppSecret *string `json:"appSecret,omitempty" writeOnly:"true"`
}

// WeComIMPatch sets the WeCom integration.
type WeComIMPatch struct {
	CorpID  *string `json:"corpId,omitempty"`
	AgentID *int64  `json:"agentId,omitempty" minimum:"0" doc:"The self-built app's AgentId (0 clears it)"`
	Secret  *string `json:"secret,omitempty" writeOnly:"true"`
}

func (p SlackIMPatch) apply(s *herald.IMSettings) error {
	if p.Token != nil && *p.Token != "" && !strings.HasPrefix(*p.Token, "xoxb-") {
		return herald.Invalidf("token", "must be a bot token (xoxb-…)")
	}
	return set(field{"token", &s.Token, p.Token})
}

func (p TeamsIMPatch) apply(s *herald.IMSettings) error {
	return set(field{"tenantId", &s.TenantID, p.TenantID}, field{"clientId", &s.ClientID, p.ClientID},
		field{"clientSecret", &s.ClientSecret, p.ClientSecret})
}

func (p DingTalkIMPatch) apply(s *herald.IMSettings) error {
	return set(field{"clientId", &s.ClientID, p.ClientID}, field{"clientSecret", &s.ClientSecret, p.ClientSecret},
		field{"robotCode", &s.RobotCode, p.RobotCode})
}

func (p AppIMPatch) apply(s *herald.IMSettings) error {
	return set(field{"appId", &s.AppID, p.AppID}, field{"appSecret", &s.AppSecret, p.AppSecret})
}

func (p WeComIMPatch) apply(s *herald.IMSettings) error {
	if p.AgentID != nil {
		if *p.AgentID < 0 {
			return herald.Invalidf("agentId", "must be a positive integer")
		}
		s.AgentID = *p.AgentID
	}
	return set(field{"corpId", &s.CorpID, p.CorpID}, field{"secret", &s.Secret, p.Secret})
}

// field is one string setting a patch may change.
type field struct {
	name string
	dst  *string
	val  *string
}

// set applies the fields present, each one line of at most 512 characters.
func set(fs ...field) error {
	for _, f := range fs {
		if f.val == nil {
			continue
		}
		v := strings.TrimSpace(*f.val)
		if utf8.RuneCountInString(v) > 512 || strings.ContainsAny(v, "\r\n") {
			return herald.Invalidf(f.name, "must be one line of at most 512 characters")
		}
		*f.dst = v
	}
	return nil
}

// IMSettings returns every IM integration as the API shows it.
func (s *Service) IMSettings(ctx context.Context) (*IMView, error) {
	var v IMView
	for _, p := range herald.IMPlatforms {
		st, err := s.Store.GetIMSettings(ctx, p)
		if herald.ErrorCode(err) == herald.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		v.set(p, st)
	}
	return &v, nil
}

// set fills p's part of the view from its settings.
func (v *IMView) set(p herald.IMPlatform, st *herald.IMSettings) {
	ok := st.Configured(p)
	switch p {
	case herald.IMSlack:
		v.Slack = SlackIMView{Configured: ok}
	case herald.IMTeams:
		v.Teams = TeamsIMView{Configured: ok, TenantID: st.TenantID, ClientID: st.ClientID}
	case herald.IMDingTalk:
		v.DingTalk = DingTalkIMView{Configured: ok, ClientID: st.ClientID, RobotCode: st.RobotCode}
	case herald.IMFeishu:
		v.Feishu = AppIMView{Configured: ok, AppID: st.AppID}
	case herald.IMLark:
		v.Lark = AppIMView{Configured: ok, AppID: st.AppID}
	case herald.IMWeCom:
		v.WeCom = WeComIMView{Configured: ok, CorpID: st.CorpID, AgentID: st.AgentID}
	}
}

// PatchIM changes the fields of one platform's settings that patch names,
// and leaves the others (and every other platform) as they are. It stores
// without calling the platform (see ValidateIM).
func (s *Service) PatchIM(ctx context.Context, p herald.IMPlatform, patch IMPatch) (*IMView, error) {
	st, err := s.Store.UpdateIMSettings(ctx, p, patch.apply)
	if err != nil {
		return nil, err
	}
	var v IMView
	v.set(p, st)
	return &v, nil
}

// DeleteIM removes one platform's integration; its webhooks' direct
// messages go to their channels from then on.
func (s *Service) DeleteIM(ctx context.Context, p herald.IMPlatform) error {
	return s.Store.DeleteIMSettings(ctx, p)
}

// ValidateResult is the platform's verdict on stored credentials.
type ValidateResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ValidateIM checks one platform's stored credentials against the platform
// now: Slack auth.test and the token's scopes, Teams' token, DingTalk's
// token, Feishu/Lark's tenant token, WeCom's gettoken.
func (s *Service) ValidateIM(ctx context.Context, p herald.IMPlatform) (*ValidateResult, error) {
	st, err := s.Store.GetIMSettings(ctx, p)
	if herald.ErrorCode(err) == herald.CodeNotFound || (err == nil && !st.Configured(p)) {
		return &ValidateResult{Error: fmt.Sprintf("the %s integration is not configured", p)}, nil
	}
	if err != nil {
		return nil, err
	}
	var m platform.Messenger
	if s.Messengers != nil {
		m, _ = s.Messengers.For(p, st)
	}
	if m == nil {
		return &ValidateResult{Error: fmt.Sprintf("Herald has no %s IM client", p)}, nil
	}
	if err := m.Validate(ctx); err != nil {
		return &ValidateResult{Error: err.Error()}, nil
	}
	return &ValidateResult{OK: true}, nil
}
