package platform

import (
	"strings"
	"testing"
)

func TestPreview(t *testing.T) {
	for _, tc := range []struct{ in, want, secret string }{
		{"https://hooks.slack.com/services/T0123ABC/B0456DEF/XXXXyyyyZZZZ", "https://hooks.slack.com/services/T0…/****", "XXXXyyyyZZZZ"},
		{"https://discord.com/api/webhooks/123456789/tokentoken", "https://discord.com/api/webhooks/12…/****", "tokentoken"},
		{"https://oapi.dingtalk.com/robot/send?access_token=abcdef123", "https://oapi.dingtalk.com/robot/send?access_token=****", "abcdef123"},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/6c8f0e2a-1111", "https://open.feishu.cn/open-apis/bot/v2/hook/****", "6c8f0e2a"},
		{"https://example.com/mysecretpath", "https://example.com/****", "mysecretpath"},
		{"https://example.com/hooks/herald/deploy?token=s3cret&x=1", "https://example.com/ho…/****?token=****&****", "s3cret"},
		{"https://example.com/h?my-secret-name=1", "https://example.com/****?****", "my-secret-name"},
		{"https://chat.googleapis.com/v1/spaces/AAAA/messages?key=K&token=T", "https://chat.googleapis.com/v1/spaces/AA…/****?key=****&token=****", "token=T"},
		{"https://prod-00.westus.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=SIGSIGSIG", "https://prod-00.westus.logic.azure.com:443/workflows/01…/****?api-version=****&sig=****&sp=****&sv=****", "SIGSIGSIG"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****", "693a91f6"},
		{"::not a url", "****", ""},
	} {
		got := Preview(tc.in)
		if got != tc.want {
			t.Errorf("Preview(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("Preview(%q) leaks %q", tc.in, tc.secret)
		}
	}
}
