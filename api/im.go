package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
)

// IMPath names an IM integration in the path.
type IMPath struct {
	Platform string `path:"platform" enum:"slack,teams,dingtalk,feishu,lark,wecom" doc:"The IM platform"`
}

// registerIM adds the /v1/settings/im operations (SPEC §8). PATCH is one
// operation per platform so that each documents and checks its own fields.
func registerIM(api huma.API, s *server) {
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized}
	op := func(id, method, path, summary string, status int) huma.Operation {
		return huma.Operation{
			OperationID: id, Method: method, Path: path, Summary: summary, DefaultStatus: status,
			Tags: []string{"IM integrations"}, Errors: errs, MaxBodyBytes: MaxBody,
		}
	}
	huma.Register(api, op("getIMSettings", http.MethodGet, "/v1/settings/im", "Every IM integration, configured or not (secrets are never shown)", http.StatusOK),
		func(ctx context.Context, _ *struct{}) (*body[*service.IMView], error) {
			v, err := s.svc.IMSettings(ctx)
			if err != nil {
				return nil, s.fail(ctx, "getIMSettings", err)
			}
			return &body[*service.IMView]{v}, nil
		})
	patchIM(api, s, op, herald.IMSlack, func(v *service.IMView) service.SlackIMView { return v.Slack }, service.SlackIMPatch{})
	patchIM(api, s, op, herald.IMTeams, func(v *service.IMView) service.TeamsIMView { return v.Teams }, service.TeamsIMPatch{})
	patchIM(api, s, op, herald.IMDingTalk, func(v *service.IMView) service.DingTalkIMView { return v.DingTalk }, service.DingTalkIMPatch{})
	patchIM(api, s, op, herald.IMFeishu, func(v *service.IMView) service.AppIMView { return v.Feishu }, service.AppIMPatch{})
	patchIM(api, s, op, herald.IMLark, func(v *service.IMView) service.AppIMView { return v.Lark }, service.AppIMPatch{})
	patchIM(api, s, op, herald.IMWeCom, func(v *service.IMView) service.WeComIMView { return v.WeCom }, service.WeComIMPatch{})
	huma.Register(api, op("deleteIMSettings", http.MethodDelete, "/v1/settings/im/{platform}", "Remove an IM integration", http.StatusNoContent),
		func(ctx context.Context, in *IMPath) (*struct{}, error) {
			if err := s.svc.DeleteIM(ctx, herald.IMPlatform(in.Platform)); err != nil {
				return nil, s.fail(ctx, "deleteIMSettings", err)
			}
			return &struct{}{}, nil
		})
	huma.Register(api, op("validateIMSettings", http.MethodPost, "/v1/settings/im/{platform}:validate", "Check the stored credentials against the platform now", http.StatusOK),
		func(ctx context.Context, in *IMPath) (*body[*service.ValidateResult], error) {
			r, err := s.svc.ValidateIM(ctx, herald.IMPlatform(in.Platform))
			if err != nil {
				return nil, s.fail(ctx, "validateIMSettings", err)
			}
			return &body[*service.ValidateResult]{r}, nil
		})
}

// patchIM registers PATCH /v1/settings/im/{p} with P as its body and V, the
// platform's part of the view, as its answer.
func patchIM[P service.IMPatch, V any](api huma.API, s *server, op func(id, method, path, summary string, status int) huma.Operation,
	p herald.IMPlatform, view func(*service.IMView) V, _ P) {
	huma.Register(api, op("patchIMSettings_"+string(p), http.MethodPatch, "/v1/settings/im/"+string(p),
		"Set the "+string(p)+" integration: fields present change, absent ones keep their value; nothing is sent to the platform", http.StatusOK),
		func(ctx context.Context, in *struct{ Body P }) (*body[V], error) {
			v, err := s.svc.PatchIM(ctx, p, in.Body)
			if err != nil {
				return nil, s.fail(ctx, "patchIMSettings", err)
			}
			return &body[V]{view(v)}, nil
		})
}
