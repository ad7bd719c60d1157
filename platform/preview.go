package platform

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// routeWords are the path segments of the platforms' webhook URLs that name
// a route rather than carry a credential. Anything else may be a secret.
var routeWords = map[string]bool{
	"services": true, "api": true, "webhooks": true, "robot": true, "send": true, "open-apis": true,
	"bot": true, "hook": true, "cgi-bin": true, "webhook": true, "spaces": true, "messages": true,
	"powerautomate": true, "automations": true, "direct": true, "workflows": true, "webhookb2": true,
	"triggers": true, "manual": true, "paths": true, "invoke": true,
}

// queryKeys are query parameter names shown (with masked values) in a
// preview; other names may themselves be secret and are hidden.
var queryKeys = map[string]bool{
	"access_token": true, "token": true, "key": true, "sig": true, "sp": true, "sv": true,
	"api-version": true, "wait": true, "thread_id": true, "code": true, "secret": true, "api_key": true, "apikey": true,
}

var versionSegment = regexp.MustCompile(`^v[0-9]{1,2}(\.[0-9]+)?$`)

// Preview returns a webhook URL with its secret parts masked, for the API
// and the delivery log: the scheme, host and known route words stay; the first
// segment that looks like a credential keeps two characters; everything
// after it, and every query value, becomes ****; query names other than the
// usual ones ("token", "key", "sig", …) are hidden too. For example
// https://hooks.slack.com/services/T0123/B0123/XXXX becomes
// https://hooks.slack.com/services/T0…/****.
func Preview(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "****"
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://" + u.Host)
	segments := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, seg := range segments {
		if seg == "" {
			continue
		}
		if routeWords[seg] || versionSegment.MatchString(seg) {
			b.WriteString("/" + seg)
			continue
		}
		if i == len(segments)-1 || len(seg) < 4 {
			b.WriteString("/****")
		} else {
			b.WriteString("/" + seg[:2] + "…/****")
		}
		break
	}
	if u.RawQuery != "" {
		q := u.Query()
		keys := make([]string, 0, len(q))
		hidden := false
		for k := range q {
			if queryKeys[strings.ToLower(k)] {
				keys = append(keys, url.QueryEscape(k)+"=****")
			} else {
				hidden = true
			}
		}
		slices.Sort(keys)
		if hidden {
			keys = append(keys, "****")
		}
		b.WriteString("?" + strings.Join(keys, "&"))
	}
	return b.String()
}
