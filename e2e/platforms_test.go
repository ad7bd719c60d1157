package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/platform/custom/customtest"
	"github.com/heraldhq/herald/platform/dingtalk/dingtalktest"
	"github.com/heraldhq/herald/platform/discord/discordtest"
	"github.com/heraldhq/herald/platform/feishu/feishutest"
	"github.com/heraldhq/herald/platform/googlechat/googlechattest"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
	"github.com/heraldhq/herald/platform/teams/teamstest"
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/service"
)

// fakePlatform is one platform's fake server and the webhook settings its
// security asks for.
type fakePlatform struct {
	typ  herald.WebhookType
	fake platformtest.Fake
	// opts are the fake hook's security settings; the webhook is created
	// with the same secret and keyword.
	opts platformtest.HookOptions
}

// fakes starts a fake server for every platform.
func fakes(t *testing.T) []*fakePlatform {
	var out []*fakePlatform
	add := func(typ herald.WebhookType, f platformtest.Fake, opts platformtest.HookOptions) {
		out = append(out, &fakePlatform{typ: typ, fake: f, opts: opts})
	}
	add(herald.Slack, slacktest.NewServer(t), platformtest.HookOptions{})
	add(herald.Discord, discordtest.NewServer(t), platformtest.HookOptions{})
	add(herald.Teams, teamstest.NewServer(t), platformtest.HookOptions{})
	add(herald.DingTalk, dingtalktest.NewServer(t), platformtest.HookOptions{Secret: "SEC" + strings.Repeat("d1ngta1k", 8), Keyword: "Herald"})
	feishu := feishutest.NewServer(t)
	add(herald.Feishu, feishu, platformtest.HookOptions{Secret: "feishu-signing-secret", Keyword: "deploy-bot"})
	add(herald.Lark, feishu, platformtest.HookOptions{Secret: "lark-signing-secret", Keyword: "Herald"})
	add(herald.WeCom, wecomtest.NewServer(t), platformtest.HookOptions{})
	add(herald.GoogleChat, googlechattest.NewServer(t), platformtest.HookOptions{})
	add(herald.Custom, customtest.NewServer(t), platformtest.HookOptions{})
	return out
}

// startWithFakes runs Herald allowed to reach every fake as if it were the
// platform's own host.
func startWithFakes(t *testing.T, backend string, fs []*fakePlatform, edit ...func(*server.Config)) *env {
	var hosts []string
	for _, f := range fs {
		u, _ := url.Parse(f.fake.NewHook(f.opts))
		hosts = append(hosts, u.Host)
	}
	return start(t, backend, append([]func(*server.Config){func(c *server.Config) {
		c.Network.AllowedHosts = append(c.Network.AllowedHosts, hosts...)
	}}, edit...)...)
}

// hook creates a webhook of f's platform subscribed to every event type,
// on a new fake hook, and returns it with the hook's URL.
func (e *env) hook(project string, f *fakePlatform) (*service.CreatedWebhook, string) {
	e.t.Helper()
	hookURL := f.fake.NewHook(f.opts)
	in := service.WebhookCreate{Type: f.typ, Title: string(f.typ), URL: hookURL, NotificationTypes: herald.EventTypes, SigningSecret: f.opts.Secret}
	if f.opts.Keyword != "" && f.opts.Keyword != "Herald" {
		in.Keyword = f.opts.Keyword // a robot whose keyword list cannot hold "Herald"
	}
	w, err := e.c.CreateWebhook(e.t.Context(), project, in)
	if err != nil {
		e.t.Fatalf("%s: %v", f.typ, err)
	}
	if f.typ == herald.Custom {
		f.fake.(*customtest.Server).SetSecret(hookURL, w.SigningSecret)
	}
	return w, hookURL
}

// Every platform receives all six event types through the real engine,
// with its security settings (signing, keyword) enforced by its fake.
func TestEveryPlatformReceivesEveryEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		fs := fakes(t)
		e := startWithFakes(t, backend, fs)
		e.project("p")
		hooks := map[herald.WebhookType]string{}
		for _, f := range fs {
			w, u := e.hook("p", f)
			hooks[f.typ] = u
			t.Logf("%s is %s", f.typ, w.Name)
		}
		var deliveries []string
		for _, typ := range herald.EventTypes {
			ev := e.publish("p", eventOf(typ))
			if len(ev.Deliveries) != len(fs) {
				t.Fatalf("%s: %d deliveries, want %d", typ, len(ev.Deliveries), len(fs))
			}
			for _, d := range ev.Deliveries {
				deliveries = append(deliveries, d.Name)
			}
		}
		// Slack and Google Chat take one message a second per webhook.
		for _, name := range deliveries {
			d := e.waitDelivery("p", name, 30*time.Second, final)
			if d.State != herald.StateSucceeded || d.AttemptCount != 1 {
				t.Errorf("%s: %s after %d attempts: %s", d.Webhook, d.State, d.AttemptCount, d.LastError)
			}
		}
		for _, f := range fs {
			got := f.fake.Accepted(hooks[f.typ])
			if len(got) != len(herald.EventTypes) {
				t.Errorf("%s accepted %d messages, want %d", f.typ, len(got), len(herald.EventTypes))
				continue
			}
			for i, body := range got {
				if f.typ != herald.Custom && !strings.Contains(string(body), "Herald") {
					t.Errorf("%s message %d does not name Herald: %s", f.typ, i, body)
				}
				if f.opts.Keyword != "" && !strings.Contains(string(body), f.opts.Keyword) {
					t.Errorf("%s message %d lacks the keyword %q", f.typ, i, f.opts.Keyword)
				}
			}
		}
	})
}

// Per platform: the platform's rate-limit answer is retried and then
// succeeds; its answer to a wrong request is recorded, with its code, after
// exactly one request.
func TestEveryPlatformFailureClasses(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		fs := fakes(t)
		e := startWithFakes(t, backend, fs)
		e.project("p")
		for _, f := range fs {
			if f.typ == herald.Lark {
				continue // the Feishu fake serves both; Feishu covers it
			}
			t.Run(string(f.typ), func(t *testing.T) {
				w, hookURL := e.hook("p", f)
				// WeCom asks for a minute before the retry; the others for less.
				f.fake.RateLimitNext(1)
				ev := e.publish("p", eventOf(herald.IssueCreated))
				d := e.waitDelivery("p", deliveryFor(t, ev, w.Name), 90*time.Second, final)
				if d.State != herald.StateSucceeded || len(d.Attempts) != 2 || d.Attempts[0].Outcome != herald.OutcomeRateLimited ||
					d.Attempts[1].Outcome != herald.OutcomeSuccess {
					t.Fatalf("after a rate-limit answer: %+v", d)
				}
				if n := len(f.fake.Accepted(hookURL)); n != 1 {
					t.Fatalf("%d messages accepted, want 1", n)
				}

				before := len(f.fake.Requests())
				code := f.fake.RejectNext(1)
				ev = e.publish("p", eventOf(herald.PipelineFailed))
				d = e.waitDelivery("p", deliveryFor(t, ev, w.Name), time.Minute, final)
				if d.State != herald.StateFailed || d.AttemptCount != 1 || d.Attempts[0].Outcome != herald.OutcomePermanent ||
					d.Attempts[0].PlatformCode != code {
					t.Fatalf("after a permanent answer: %+v (want platform code %q)", d, code)
				}
				time.Sleep(300 * time.Millisecond)
				if n := len(f.fake.Requests()) - before; n != 1 {
					t.Fatalf("a permanent answer was sent %d times, want once", n)
				}
			})
		}
	})
}

func deliveryFor(t *testing.T, ev *herald.Event, webhook string) string {
	t.Helper()
	for _, d := range ev.Deliveries {
		if d.Webhook == webhook {
			return d.Name
		}
	}
	t.Fatalf("event %s has no delivery to %s", ev.Name, webhook)
	return ""
}

// The test button sends a sample message now and returns the platform's
// answer, for every platform: accepted, and refused with its code.
func TestTestButton(t *testing.T) {
	fs := fakes(t)
	e := startWithFakes(t, "sqlite", fs)
	e.project("p")
	for _, f := range fs {
		if f.typ == herald.Lark {
			continue
		}
		t.Run(string(f.typ), func(t *testing.T) {
			w, hookURL := e.hook("p", f)
			res, err := e.c.TestWebhook(t.Context(), "p", w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Error != "" || res.HTTPStatus < 200 || res.HTTPStatus > 299 {
				t.Fatalf("test message: %+v", res)
			}
			got := f.fake.Accepted(hookURL)
			if len(got) != 1 || (f.typ != herald.Custom && !strings.Contains(string(got[0]), "Test message from Herald")) {
				t.Fatalf("the platform got %d messages: %s", len(got), got)
			}
			code := f.fake.RejectNext(1)
			time.Sleep(1200 * time.Millisecond) // Slack and Google Chat take one a second
			res, err = e.c.TestWebhook(t.Context(), "p", w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.PlatformCode != code || res.Error == "" {
				t.Fatalf("refused test message: %+v, want platform code %q", res, code)
			}
			// Nothing is recorded: a test is not a delivery.
			ds, _, err := e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{Webhook: w.ID}, client.Page{})
			if err != nil || len(ds) != 0 {
				t.Fatalf("the test created %d deliveries (%v)", len(ds), err)
			}
		})
	}
}
