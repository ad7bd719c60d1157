package e2e

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/platform"
)

// imEnv is the environment that points Herald's IM base URLs at e.
func imEnv(e platform.IMEndpoints) []string {
	return []string{
		"HERALD_SLACK_API_URL=" + e.SlackAPI, "HERALD_TEAMS_LOGIN_URL=" + e.TeamsLogin, "HERALD_TEAMS_GRAPH_URL=" + e.TeamsGraph,
		"HERALD_TEAMS_BOT_URL=" + e.TeamsBot, "HERALD_DINGTALK_API_URL=" + e.DingTalkAPI, "HERALD_DINGTALK_OAPI_URL=" + e.DingTalkOAPI,
		"HERALD_FEISHU_API_URL=" + e.FeishuAPI, "HERALD_LARK_API_URL=" + e.LarkAPI, "HERALD_WECOM_API_URL=" + e.WeComAPI,
	}
}

// kill -9 after the first of three recipients was messaged: after the
// restart the other two get theirs, and the first gets no second message.
func TestDirectMessageCrash(t *testing.T) {
	t.Parallel()
	ims := imFakes(t)
	endpoints := platform.DefaultIMEndpoints
	var hosts []string
	for _, p := range ims {
		p.im.Endpoints(&endpoints)
		u, _ := url.Parse(p.fake.NewHook(p.opts))
		hosts = append(hosts, u.Host)
	}
	vars := append(crashEnv(filepath.Join(t.TempDir(), "herald.db"), testKey(t)), imEnv(endpoints)...)
	vars = append(vars, "HERALD_ALLOWED_HOSTS="+strings.Join(hosts, ","))
	proc := spawn(t, vars...)
	e := &env{t: t, c: client.New(proc.url, token), url: proc.url}
	e.project("crash")
	type run struct {
		p        *imPlatform
		delivery string
		users    []string
	}
	var runs []*run
	for _, p := range ims {
		e.configure(p)
		w, _ := e.dmHook("crash", p)
		people := []herald.User{person(11), person(12), person(13)}
		r := &run{p: p}
		for _, u := range people {
			r.users = append(r.users, p.im.AddUser(u))
		}
		p.im.HoldSendsAfter(1) // the second send hangs: Herald dies while it is in flight
		ev := e.publish("crash", approval(people...))
		r.delivery = deliveryFor(t, ev, w.Name)
		runs = append(runs, r)
	}
	for _, r := range runs {
		e.waitDelivery("crash", r.delivery, 30*time.Second, func(d *herald.Delivery) bool {
			return len(d.Recipients) == 3 && d.Recipients[0].State == herald.RecipientSent && r.p.im.Sends() >= 2
		})
	}
	proc.kill()
	for _, r := range runs {
		r.p.im.Release()
	}
	proc = spawn(t, vars...)
	e.c, e.url = client.New(proc.url, token), proc.url
	for _, r := range runs {
		d := e.waitDelivery("crash", r.delivery, 60*time.Second, final)
		if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessage {
			t.Errorf("%s: %s %s %q", r.p.imp, d.State, d.Route, d.RouteReason)
		}
		for i, id := range r.users {
			if n := len(r.p.im.DMs(id)); n != 1 {
				t.Errorf("%s: recipient %d got %d direct messages, want 1", r.p.imp, i+1, n)
			}
		}
	}
}
