package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/platform/dingtalk/dingtalktest"
	"github.com/heraldhq/herald/platform/feishu/feishutest"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
	"github.com/heraldhq/herald/platform/teams/teamstest"
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/service"
)

// imPlatform is one IM platform under test: its IM API fake and the fake
// of its webhook (the channel direct messages fall back to).
type imPlatform struct {
	*fakePlatform
	imp herald.IMPlatform
	im  platformtest.IMFake
	// refreshes says the platform's tokens expire and are refreshed (Slack
	// bot tokens do not expire).
	refreshes bool
}

// imFakes starts the fakes of every IM platform.
func imFakes(t *testing.T) []*imPlatform {
	var out []*imPlatform
	channels := map[herald.WebhookType]*fakePlatform{}
	for _, f := range fakes(t) {
		channels[f.typ] = f
	}
	add := func(imp herald.IMPlatform, im platformtest.IMFake, refreshes bool) {
		out = append(out, &imPlatform{fakePlatform: channels[imp.WebhookType()], imp: imp, im: im, refreshes: refreshes})
	}
	add(herald.IMSlack, slacktest.NewWebAPI(t), false)
	add(herald.IMTeams, teamstest.NewIMAPI(t), true)
	add(herald.IMDingTalk, dingtalktest.NewIMAPI(t), true)
	add(herald.IMFeishu, feishutest.NewFeishuIMAPI(t), true)
	add(herald.IMLark, feishutest.NewLarkIMAPI(t), true)
	add(herald.IMWeCom, wecomtest.NewIMAPI(t), true)
	return out
}

// startWithIM runs Herald with its IM base URLs pointed at the fakes.
func startWithIM(t *testing.T, backend string, ims []*imPlatform, edit ...func(*server.Config)) *env {
	var fs []*fakePlatform
	for _, p := range ims {
		fs = append(fs, p.fakePlatform)
	}
	return startWithFakes(t, backend, fs, append([]func(*server.Config){func(c *server.Config) {
		for _, p := range ims {
			p.im.Endpoints(&c.IM)
		}
	}}, edit...)...)
}

// patchOf is the settings patch that stores s for p.
func patchOf(p herald.IMPlatform, s herald.IMSettings) service.IMPatch {
	str := func(v string) *string { return &v }
	switch p {
	case herald.IMSlack:
		return service.SlackIMPatch{Token: str(s.Token)}
	case herald.IMTeams:
		return service.TeamsIMPatch{TenantID: str(s.TenantID), ClientID: str(s.ClientID), ClientSecret: str(s.ClientSecret)}
	case herald.IMDingTalk:
		return service.DingTalkIMPatch{ClientID: str(s.ClientID), ClientSecret: str(s.ClientSecret), RobotCode: str(s.RobotCode)}
	case herald.IMFeishu, herald.IMLark:
		return service.AppIMPatch{AppID: str(s.AppID), AppSecret: str(s.AppSecret)}
	case herald.IMWeCom:
		return service.WeComIMPatch{CorpID: str(s.CorpID), AgentID: &s.AgentID, Secret: str(s.Secret)}
	}
	panic("unknown IM platform " + p)
}

// configure stores the fake's credentials through the API.
func (e *env) configure(p *imPlatform) {
	e.t.Helper()
	if err := e.c.PatchIMSettings(e.t.Context(), p.imp, patchOf(p.imp, p.im.Settings()), nil); err != nil {
		e.t.Fatalf("%s: %v", p.imp, err)
	}
}

// dmHook creates a webhook of p's type with direct messages on.
func (e *env) dmHook(project string, p *imPlatform) (*service.CreatedWebhook, string) {
	e.t.Helper()
	hookURL := p.fake.NewHook(p.opts)
	in := service.WebhookCreate{Type: p.typ, Title: string(p.typ) + " DM", URL: hookURL, NotificationTypes: herald.EventTypes,
		SigningSecret: p.opts.Secret, DirectMessage: true}
	if p.opts.Keyword != "" && p.opts.Keyword != "Herald" {
		in.Keyword = p.opts.Keyword
	}
	w, err := e.c.CreateWebhook(e.t.Context(), project, in)
	if err != nil {
		e.t.Fatalf("%s: %v", p.typ, err)
	}
	return w, hookURL
}

// person returns a recipient with a unique email and phone.
func person(i int) herald.User {
	return herald.User{Name: fmt.Sprintf("Person %d", i), Email: fmt.Sprintf("person%d-%d@example.com", i, time.Now().UnixNano()%1e6),
		Phone: fmt.Sprintf("+86138%08d", (time.Now().UnixNano()/1000+int64(i))%1e8)}
}

func approval(recipients ...herald.User) *herald.Event {
	ev := eventOf(herald.IssueApprovalRequested)
	ev.Recipients = recipients
	return ev
}

// forEachIM runs f for every IM platform, on each backend, each in a
// project of its own.
func forEachIM(t *testing.T, f func(t *testing.T, e *env, p *imPlatform, project string)) {
	eachBackend(t, func(t *testing.T, backend string) {
		ims := imFakes(t)
		e := startWithIM(t, backend, ims)
		for i, p := range ims {
			t.Run(string(p.imp), func(t *testing.T) {
				e.t = t
				project := fmt.Sprintf("p%d", i)
				e.project(project)
				f(t, e, p, project)
			})
		}
	})
}

// Recipients [known, unknown]: exactly one direct message, to the known
// one, and no channel post; the delivery shows SENT and UNMATCHED.
func TestDirectMessageToKnownRecipient(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		e.configure(p)
		w, hookURL := e.dmHook(project, p)
		known, unknown := person(1), person(2)
		id := p.im.AddUser(known)
		ev := e.publish(project, approval(known, unknown))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessage {
			t.Fatalf("delivery %s %s (%s): %+v", d.State, d.Route, d.RouteReason, d)
		}
		if len(d.Recipients) != 2 || d.Recipients[0].State != herald.RecipientSent || d.Recipients[1].State != herald.RecipientUnmatched {
			t.Fatalf("recipients %+v", d.Recipients)
		}
		if n := len(p.im.DMs(id)); n != 1 {
			t.Fatalf("the known recipient got %d direct messages, want 1", n)
		}
		if !strings.Contains(string(p.im.DMs(id)[0]), "Herald") {
			t.Errorf("the direct message does not name Herald: %s", p.im.DMs(id)[0])
		}
		if n := len(p.fake.Accepted(hookURL)); n != 0 {
			t.Fatalf("the channel got %d messages, want none", n)
		}
		// The attempt names the path: a direct message, to whom.
		if len(d.Attempts) != 1 || d.Attempts[0].Outcome != herald.OutcomeSuccess || !strings.Contains(d.Attempts[0].Target, "direct message to "+known.Email) {
			t.Fatalf("attempts %+v", d.Attempts)
		}
	})
}

// Recipients all unknown: one channel post; the route says so and why.
func TestDirectMessageFallsBackWhenNobodyMatches(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		e.configure(p)
		w, hookURL := e.dmHook(project, p)
		ev := e.publish(project, approval(person(3), person(4)))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "no recipient matched") {
			t.Fatalf("delivery %s %s %q", d.State, d.Route, d.RouteReason)
		}
		for _, r := range d.Recipients {
			if r.State != herald.RecipientUnmatched {
				t.Fatalf("recipients %+v", d.Recipients)
			}
		}
		if n := len(p.fake.Accepted(hookURL)); n != 1 {
			t.Fatalf("the channel got %d messages, want 1", n)
		}
	})
}

// An integration that is not configured: the channel.
func TestDirectMessageWithoutIntegration(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		w, hookURL := e.dmHook(project, p)
		known := person(5)
		id := p.im.AddUser(known)
		ev := e.publish(project, approval(known))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "not configured") {
			t.Fatalf("delivery %s %s %q", d.State, d.Route, d.RouteReason)
		}
		if len(p.fake.Accepted(hookURL)) != 1 || len(p.im.DMs(id)) != 0 {
			t.Fatal("an unconfigured integration must post to the channel and message nobody")
		}
	})
}

// A token that expired before the first send is refreshed: exactly one
// direct message. (Slack bot tokens do not expire: a revoked one falls back
// to the channel.)
func TestDirectMessageTokenExpiry(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		e.configure(p)
		w, hookURL := e.dmHook(project, p)
		known := person(6)
		id := p.im.AddUser(known)
		// Warm the token cache, then expire the token it holds.
		if r, err := e.c.ValidateIMSettings(t.Context(), p.imp); err != nil || !r.OK {
			t.Fatalf("validate: %+v %v", r, err)
		}
		p.im.ExpireTokens()
		ev := e.publish(project, approval(known))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if !p.refreshes {
			if d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "rejected") || len(p.fake.Accepted(hookURL)) != 1 {
				t.Fatalf("a rejected token must fall back to the channel: %s %q", d.Route, d.RouteReason)
			}
			return
		}
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessage || len(p.im.DMs(id)) != 1 {
			t.Fatalf("after a token expiry: %s %s %q, %d DMs", d.State, d.Route, d.RouteReason, len(p.im.DMs(id)))
		}
	})
}

// A transient failure of the send is retried; the recipient gets one
// message.
func TestDirectMessageTransientFailure(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		e.configure(p)
		w, _ := e.dmHook(project, p)
		known := person(7)
		id := p.im.AddUser(known)
		p.im.FailNextSends(1)
		ev := e.publish(project, approval(known))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessage || len(d.Attempts) != 2 ||
			d.Attempts[0].Outcome != herald.OutcomeRetryable || len(p.im.DMs(id)) != 1 {
			t.Fatalf("after a transient failure: %+v, %d DMs", d, len(p.im.DMs(id)))
		}
	})
}

// Rejected credentials: validate says so, and deliveries fall back.
func TestDirectMessageRejectedCredentials(t *testing.T) {
	forEachIM(t, func(t *testing.T, e *env, p *imPlatform, project string) {
		e.configure(p)
		if r, err := e.c.ValidateIMSettings(t.Context(), p.imp); err != nil || !r.OK {
			t.Fatalf("validate good credentials: %+v %v", r, err)
		}
		p.im.RejectCredentials()
		if r, err := e.c.ValidateIMSettings(t.Context(), p.imp); err != nil || r.OK || r.Error == "" {
			t.Fatalf("validate rejected credentials: %+v %v", r, err)
		}
		w, hookURL := e.dmHook(project, p)
		known := person(8)
		p.im.AddUser(known)
		ev := e.publish(project, approval(known))
		d := e.waitDelivery(project, deliveryFor(t, ev, w.Name), 30*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "rejected") ||
			len(p.fake.Accepted(hookURL)) != 1 {
			t.Fatalf("delivery %s %s %q", d.State, d.Route, d.RouteReason)
		}
	})
}

// GET shows every platform; PATCH of one platform keeps its absent fields
// and leaves the other platforms' secrets working.
func TestIMSettingsAPI(t *testing.T) {
	ims := imFakes(t)
	e := startWithIM(t, "sqlite", ims)
	v, err := e.c.IMSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v.Slack.Configured || v.Teams.Configured || v.WeCom.Configured {
		t.Fatalf("nothing configured yet: %+v", v)
	}
	for _, p := range ims {
		e.configure(p)
	}
	for _, p := range ims {
		// Change one platform's non-secret fields (or, for Slack, nothing):
		// its secret stays; the others are untouched.
		var patch service.IMPatch
		switch p.imp {
		case herald.IMSlack:
			patch = service.SlackIMPatch{}
		case herald.IMTeams:
			s := p.im.Settings()
			patch = service.TeamsIMPatch{TenantID: &s.TenantID}
		case herald.IMDingTalk:
			s := p.im.Settings()
			patch = service.DingTalkIMPatch{RobotCode: &s.RobotCode}
		case herald.IMFeishu, herald.IMLark:
			s := p.im.Settings()
			patch = service.AppIMPatch{AppID: &s.AppID}
		case herald.IMWeCom:
			s := p.im.Settings()
			patch = service.WeComIMPatch{CorpID: &s.CorpID}
		}
		if err := e.c.PatchIMSettings(t.Context(), p.imp, patch, nil); err != nil {
			t.Fatal(err)
		}
		for _, q := range ims {
			if r, err := e.c.ValidateIMSettings(t.Context(), q.imp); err != nil || !r.OK {
				t.Fatalf("after patching %s, %s does not validate: %+v %v", p.imp, q.imp, r, err)
			}
		}
	}
	body := e.get("/v1/settings/im")
	for _, p := range ims {
		for _, secret := range secretsOf(p.im.Settings()) {
			if strings.Contains(body, secret) {
				t.Errorf("GET /v1/settings/im shows a %s secret", p.imp)
			}
		}
		if !strings.Contains(body, `"`+string(p.imp)+`":{"configured":true`) {
			t.Errorf("%s is not shown configured: %s", p.imp, body)
		}
	}
	// Deleting one leaves the others.
	if err := e.c.DeleteIMSettings(t.Context(), ims[0].imp); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.c.ValidateIMSettings(t.Context(), ims[0].imp); r.OK || !strings.Contains(r.Error, "not configured") {
		t.Fatalf("validate after delete: %+v", r)
	}
	var apiErr *client.Error
	if err := e.c.DeleteIMSettings(t.Context(), ims[0].imp); !asAPIError(err, &apiErr) || apiErr.Code != 404 {
		t.Fatalf("deleting twice: %v", err)
	}
	// Bad input changes nothing.
	bad := "xoxp-user-token"
	if err := e.c.PatchIMSettings(t.Context(), herald.IMSlack, service.SlackIMPatch{Token: &bad}, nil); !asAPIError(err, &apiErr) || apiErr.Code != 400 || !strings.Contains(apiErr.Message, "token") {
		t.Fatalf("a user token: %v", err)
	}
	status, apiErr2 := e.call("PATCH", "/v1/settings/im/wecom", "application/json", []byte(`{"appId":"cli_1"}`), "Bearer "+token)
	if status != 400 || !strings.Contains(apiErr2.Message, "appId") {
		t.Fatalf("a field of another platform: %d %+v", status, apiErr2)
	}
	status, _ = e.call("PATCH", "/v1/settings/im/myspace", "application/json", []byte(`{}`), "Bearer "+token)
	if status != 405 {
		t.Fatalf("PATCH of an unknown platform: %d, want 405", status)
	}
	status, apiErr2 = e.call("POST", "/v1/settings/im/myspace:validate", "application/json", nil, "Bearer "+token)
	if status != 400 || !strings.Contains(apiErr2.Message, "platform") {
		t.Fatalf("validate of an unknown platform: %d %+v", status, apiErr2)
	}
}

// secretsOf lists the secret fields of s that are set.
func secretsOf(s herald.IMSettings) []string {
	var out []string
	for _, v := range []string{s.Token, s.ClientSecret, s.AppSecret, s.Secret} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
