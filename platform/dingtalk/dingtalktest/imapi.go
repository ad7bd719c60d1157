package dingtalktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// The paths of the DingTalk APIs IMAPI serves.
const (
	TokenPath     = "/v1.0/oauth2/accessToken"          // api.dingtalk.com
	BatchSendPath = "/v1.0/robot/oToMessages/batchSend" // api.dingtalk.com
	LookupPath    = "/topapi/v2/user/getbymobile"       // oapi.dingtalk.com
)

// TokenHeader is where api.dingtalk.com takes the access token.
const TokenHeader = "x-acs-dingtalk-access-token"

// MaxUserIDs is how many users one batchSend may name.
const MaxUserIDs = 20

// TokenLifetime is how long DingTalk's access tokens last (expireIn).
const TokenLifetime = 2 * time.Hour

// The answers IMAPI gives, as DingTalk does (platforms.md D2). Those marked
// UNVERIFIED were seen in no public source; they follow DingTalk's codes
// for the same kind of mistake elsewhere.
const (
	CodeBadCredentials  = "invalidClientIdOrSecret"                            // token: 400
	CodeMissingBody     = "Missingbody"                                        // token: 400, body not JSON (UNVERIFIED code)
	CodeMissingToken    = "AuthenticationFailed.MissingParameter"              // new API, no TokenHeader: 400
	CodeBadToken        = "InvalidAuthentication"                              // new API, unknown or expired token: 400
	CodeQPSLimit        = "Forbidden.AccessDenied.QpsLimitForApi"              // new API: 403
	CodeNoPermission    = "Forbidden.AccessDenied.AccessTokenPermissionDenied" // new API: 403
	CodeRobotCodeEmpty  = "invalidParameter.robotCode.empty"                   // 400
	CodeRobotCodeAuth   = "invalidParameter.robotCode.auth"                    // 400, the robot is not this app's
	CodeUserIDsEmpty    = "invalidParameter.userIds.empty"                     // 400
	CodeUserIDsOverMax  = "invalidParameter.userIds.overMax"                   // 400
	CodeMsgKeyEmpty     = "invalidParameter.msgKey.empty"                      // 400
	CodeMsgKeyInvalid   = "invalidParameter.msgKey.invalid"                    // 400
	CodeMsgParamInvalid = "invalidParameter.msgParam.invalid"                  // 400
	CodeParamInvalid    = "invalidParameter.param.invalid"                     // 400, a field of the wrong JSON type
	CodeSystemError     = "InternalError"                                      // 500 (UNVERIFIED code)
	CodeUnavailable     = "ServiceUnavailable"                                 // 503, held sends on Release (UNVERIFIED code)

	ErrcodeOK           = 0
	ErrcodeBusy         = -1     // "系统繁忙"
	ErrcodeAuth         = 88     // authorisation failed; sub_code says why
	ErrcodeBadToken     = 40014  // "不合法的access_token", as sub_code of 88
	ErrcodeNoPermission = 60011  // "没有调用该接口的权限", as sub_code of 88
	ErrcodeMissingToken = 40035  // "缺少参数 access_token" (UNVERIFIED for topapi)
	ErrcodeBadMobile    = 40104  // "企业中的手机号码无效": not a mobile form DingTalk stores
	ErrcodeNoUser       = 60121  // "找不到该用户"
	ErrcodeBadParam     = 400002 // "无效的参数": no mobile
	ErrcodeQPSLimit     = 90018  // over the API's QPS limit
)

// IMAPI is a fake of the DingTalk APIs direct messages use (platforms.md
// D2), both hosts on one listener: the new API (api.dingtalk.com) issues
// app access tokens (POST /v1.0/oauth2/accessToken) and sends robot
// one-to-one messages (POST /v1.0/robot/oToMessages/batchSend); the old
// API (oapi.dingtalk.com) finds users by mobile (POST
// /topapi/v2/user/getbymobile).
//
// It enforces each API's auth placement exactly: the new API takes the
// token only in the x-acs-dingtalk-access-token header (a query token or
// Authorization: Bearer is answered 400 AuthenticationFailed.MissingParameter)
// and answers an unknown or expired token 400 InvalidAuthentication; the old
// API takes it only as ?access_token= and answers a bad one HTTP 200
// errcode 88, sub_code 40014. It checks batchSend's body (robotCode this
// app's, 1 to 20 userIds, a known msgKey, msgParam a JSON string holding an
// object with a title and text for sampleMarkdown) and answers mistakes with
// DingTalk's 400 invalidParameter.* codes. Users it does not know, or that a
// test marks invalid, come back in invalidStaffIdList; users a test
// throttles in flowControlledStaffIdList. It records what each user
// received (the decoded msgParam) and the mobiles it was asked for.
//
// Its SendGate counts the batchSend requests received, answered or not
// (Sends). A failed one (FailNextSends) answers HTTP 500 CodeSystemError
// once its token is checked, before any AnswerNextSend answer; a held one
// (HoldSendsAfter) is answered 503 CodeUnavailable on Release, and is not
// recorded.
//
// It is independent of package dingtalk: it checks requests against
// DingTalk's rules, not Herald's. All its methods are safe for concurrent
// use; it closes when the test ends.
type IMAPI struct {
	*httptest.Server
	platformtest.SendGate

	mu                           sync.Mutex
	appKey, appSecret, robotCode string
	rejected                     bool
	lifetime                     time.Duration
	tokens                       map[string]time.Time // token → expiry
	fetches                      int
	users                        map[string]string // E.164 phone → userid
	ids                          map[string]bool
	invalid                      map[string]bool
	throttled                    map[string]int // userid → sends still flow-controlled
	dms                          map[string][]DM
	lookups                      []string
	sendAnswers                  []answer
	lookupAnswers                []answer
}

// DM is one message a user received: the robot, the template and its
// parameters (msgParam decoded).
type DM struct {
	RobotCode string
	MsgKey    string
	Param     json.RawMessage
}

// answer is an injected answer: an HTTP status and a JSON body.
type answer struct {
	status int
	body   map[string]any
}

var _ platformtest.IMFake = (*IMAPI)(nil)

// NewIMAPI starts a fake of DingTalk's app APIs with one app (a random
// client ID, secret and robot code, see Settings) and an empty directory.
func NewIMAPI(t testing.TB) *IMAPI {
	a := &IMAPI{
		appKey:    "ding" + platformtest.RandomString(16, lowerDigits),
		appSecret: platformtest.RandomString(64, lowerDigits+"ABCDEFGHIJKLMNOPQRSTUVWXYZ_-"),
		robotCode: "ding" + platformtest.RandomString(16, lowerDigits),
		lifetime:  TokenLifetime, tokens: map[string]time.Time{},
		users: map[string]string{}, ids: map[string]bool{}, invalid: map[string]bool{}, throttled: map[string]int{},
		dms: map[string][]DM{},
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() { a.Release(); a.Close() })
	return a
}

const lowerDigits = "0123456789abcdefghijklmnopqrstuvwxyz"

// Endpoints points both DingTalk API base URLs at the fake.
func (a *IMAPI) Endpoints(e *platform.IMEndpoints) {
	e.DingTalkAPI, e.DingTalkOAPI = a.URL, a.URL
}

// Settings returns the app's client ID (AppKey), client secret (AppSecret)
// and robot code.
func (a *IMAPI) Settings() herald.IMSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return herald.IMSettings{ClientID: a.appKey, ClientSecret: a.appSecret, RobotCode: a.robotCode}
}

// AddUser adds a member found by u.Phone and returns their userid. A
// lookup finds them by the mobile DingTalk stores for the phone: a +86
// number as its 11-digit national number, any other as
// "+<country code>-<number>". A phone of digits only is taken as a
// mainland number.
func (a *IMAPI) AddUser(u herald.User) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := platformtest.RandomString(18, "0123456789")
	a.ids[id] = true
	if phone := u.Phone; phone != "" {
		if !strings.HasPrefix(phone, "+") {
			phone = "+86" + phone
		}
		a.users[phone] = id
	}
	return id
}

// DMs returns the msgParam of each message the user received, in order.
func (a *IMAPI) DMs(userID string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []json.RawMessage
	for _, dm := range a.dms[userID] {
		out = append(out, dm.Param)
	}
	return out
}

// Received returns the messages the user received, in order.
func (a *IMAPI) Received(userID string) []DM {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dms[userID])
}

// Lookups returns the mobiles getbymobile was asked for, in order.
func (a *IMAPI) Lookups() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.lookups)
}

// TokenFetches counts the token requests the fake answered with a token.
func (a *IMAPI) TokenFetches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches
}

// Tokens returns every access token the fake has issued.
func (a *IMAPI) Tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.tokens))
	for t := range a.tokens {
		out = append(out, t)
	}
	return out
}

// SetTokenLifetime sets the expireIn of tokens issued from now on.
func (a *IMAPI) SetTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

// ExpireTokens makes every token issued so far expired: the next call with
// one is answered InvalidAuthentication (new API) or errcode 88 sub_code
// 40014 (old API). New tokens work.
func (a *IMAPI) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t := range a.tokens {
		a.tokens[t] = time.Time{}
	}
}

// RejectCredentials changes the app's secret: the token endpoint answers
// 400 invalidClientIdOrSecret to the old one, and no token issued so far
// works any more.
func (a *IMAPI) RejectCredentials() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejected = true
	for t := range a.tokens {
		a.tokens[t] = time.Time{}
	}
}

// RateLimitNextSends makes the next n batchSends answer 403
// Forbidden.AccessDenied.QpsLimitForApi.
func (a *IMAPI) RateLimitNextSends(n int) {
	for range n {
		a.AnswerNextSend(http.StatusForbidden, CodeQPSLimit, "调用该接口超过限流阈值")
	}
}

// AnswerNextSend queues an answer for the next batchSend with a valid
// token: the HTTP status and DingTalk's {"code","message","requestid"}.
func (a *IMAPI) AnswerNextSend(status int, code, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sendAnswers = append(a.sendAnswers, answer{status, apiError(code, message)})
}

// AnswerNextLookup queues an answer for the next getbymobile with a valid
// token: HTTP 200 with errcode (for 88, with subCode as sub_code) and msg.
func (a *IMAPI) AnswerNextLookup(errcode int, subCode, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookupAnswers = append(a.lookupAnswers, answer{http.StatusOK, oapiError(errcode, subCode, msg)})
}

// MarkInvalid puts the user in invalidStaffIdList of every batchSend from
// now on (someone who left, or the robot cannot reach).
func (a *IMAPI) MarkInvalid(userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalid[userID] = true
}

// FlowControlNext puts the user in flowControlledStaffIdList of the next n
// batchSends that name them: DingTalk throttles messages to that user.
func (a *IMAPI) FlowControlNext(userID string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.throttled[userID] += n
}

func (a *IMAPI) serve(w http.ResponseWriter, r *http.Request) {
	var status int
	var body map[string]any
	switch r.URL.Path {
	case TokenPath:
		status, body = a.issueToken(r)
	case BatchSendPath:
		if hold := a.Enter(); hold != nil {
			<-hold // released: answered 503, not recorded
			write(w, http.StatusServiceUnavailable, apiError(CodeUnavailable, "服务暂不可用"))
			return
		}
		status, body = a.batchSend(r)
	case LookupPath:
		status, body = a.getByMobile(r)
	default:
		status, body = http.StatusNotFound, apiError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	write(w, status, body)
}

// issueToken answers POST /v1.0/oauth2/accessToken {"appKey","appSecret"}.
func (a *IMAPI) issueToken(r *http.Request) (int, map[string]any) {
	if r.Method != http.MethodPost {
		return http.StatusNotFound, apiError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	var in struct {
		AppKey    string `json:"appKey"`
		AppSecret string `json:"appSecret"`
	}
	if !platformtest.IsJSON(r) || json.NewDecoder(r.Body).Decode(&in) != nil {
		return http.StatusBadRequest, apiError(CodeMissingBody, "body is mandatory for this action.")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rejected || in.AppKey != a.appKey || in.AppSecret != a.appSecret {
		return http.StatusBadRequest, apiError(CodeBadCredentials, "无效的clientId或者clientSecret")
	}
	tok := platformtest.RandomString(32, "0123456789abcdef")
	a.tokens[tok] = time.Now().Add(a.lifetime)
	a.fetches++
	return http.StatusOK, map[string]any{"accessToken": tok, "expireIn": int64(a.lifetime / time.Second)}
}

// valid reports whether tok is a token the fake issued, unexpired and not
// revoked. The caller holds a.mu.
func (a *IMAPI) valid(tok string) bool {
	exp, ok := a.tokens[tok]
	return ok && tok != "" && time.Now().Before(exp)
}

// batchSend answers POST /v1.0/robot/oToMessages/batchSend.
func (a *IMAPI) batchSend(r *http.Request) (int, map[string]any) {
	if r.Method != http.MethodPost {
		return http.StatusNotFound, apiError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	// The token goes in the header only: a query token or a Bearer
	// header is as good as none.
	tok := r.Header.Get(TokenHeader)
	if tok == "" {
		return http.StatusBadRequest, apiError(CodeMissingToken, "缺少参数 x-acs-dingtalk-access-token")
	}
	var in struct {
		RobotCode json.RawMessage `json:"robotCode"`
		UserIDs   json.RawMessage `json:"userIds"`
		MsgKey    json.RawMessage `json:"msgKey"`
		MsgParam  json.RawMessage `json:"msgParam"`
	}
	decodeErr := json.NewDecoder(r.Body).Decode(&in)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.valid(tok) {
		return http.StatusBadRequest, apiError(CodeBadToken, "不合法的access_token")
	}
	if a.Fail() { // FailNextSends
		return http.StatusInternalServerError, apiError(CodeSystemError, "系统繁忙，请稍后重试")
	}
	if len(a.sendAnswers) > 0 {
		f := a.sendAnswers[0]
		a.sendAnswers = a.sendAnswers[1:]
		return f.status, f.body
	}
	bad := func(code, msg string) (int, map[string]any) { return http.StatusBadRequest, apiError(code, msg) }
	var robotCode, msgKey, msgParam string
	var userIDs []string
	if decodeErr != nil || !platformtest.IsJSON(r) ||
		!decode(in.RobotCode, &robotCode) || !decode(in.UserIDs, &userIDs) || !decode(in.MsgKey, &msgKey) {
		return bad(CodeParamInvalid, "参数不合法")
	}
	if !decode(in.MsgParam, &msgParam) { // an object, not a string holding one
		return bad(CodeMsgParamInvalid, "msgParam必须是JSON格式")
	}
	switch {
	case robotCode == "":
		return bad(CodeRobotCodeEmpty, "机器人robotCode不合法")
	case robotCode != a.robotCode:
		return bad(CodeRobotCodeAuth, "该应用appkey和机器人robotCode不匹配，请使用机器人所属应用的appkey")
	case len(userIDs) == 0:
		return bad(CodeUserIDsEmpty, "用户userId列表为空")
	case len(userIDs) > MaxUserIDs:
		return bad(CodeUserIDsOverMax, "用户userId列表超过上限")
	case msgKey == "":
		return bad(CodeMsgKeyEmpty, "缺少msgKey")
	case !slices.Contains(msgKeys, msgKey):
		return bad(CodeMsgKeyInvalid, "msgKey无效")
	}
	param, ok := checkParam(msgKey, msgParam)
	if !ok {
		return bad(CodeMsgParamInvalid, "msgParam必须是JSON格式")
	}
	invalid, throttled := []string{}, []string{}
	for _, id := range userIDs {
		switch {
		case !a.ids[id] || a.invalid[id]:
			invalid = append(invalid, id)
		case a.throttled[id] > 0:
			a.throttled[id]--
			throttled = append(throttled, id)
		default:
			a.dms[id] = append(a.dms[id], DM{RobotCode: robotCode, MsgKey: msgKey, Param: param})
		}
	}
	out := map[string]any{"processQueryKey": platformtest.RandomString(44, lowerDigits+"ABCDEFGHIJKLMNOPQRSTUVWXYZ+/")}
	if len(invalid) > 0 {
		out["invalidStaffIdList"] = invalid
	}
	if len(throttled) > 0 {
		out["flowControlledStaffIdList"] = throttled
	}
	return http.StatusOK, out
}

// decode reads a field of a request into to, reporting false when it has
// the wrong JSON type; an absent field leaves to as it is.
func decode(raw json.RawMessage, to any) bool {
	return raw == nil || json.Unmarshal(raw, to) == nil
}

// msgKeys are the robot message templates (platforms.md D2).
var msgKeys = []string{"sampleText", "sampleMarkdown", "sampleImageMsg", "sampleLink", "sampleActionCard",
	"sampleActionCard2", "sampleActionCard3", "sampleActionCard4", "sampleActionCard5", "sampleActionCard6",
	"sampleAudio", "sampleFile", "sampleVideo"}

// checkParam decodes msgParam, which must hold a JSON object; for
// sampleMarkdown it must have a non-empty string title and text, for
// sampleText a non-empty string content (UNVERIFIED: DingTalk may accept
// fewer fields and show an empty message).
func checkParam(msgKey, msgParam string) (json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(msgParam), &fields) != nil || fields == nil {
		return nil, false
	}
	var need []string
	switch msgKey {
	case "sampleMarkdown":
		need = []string{"title", "text"}
	case "sampleText":
		need = []string{"content"}
	}
	for _, f := range need {
		var s string
		if json.Unmarshal(fields[f], &s) != nil || s == "" {
			return nil, false
		}
	}
	return json.RawMessage(msgParam), true
}

// getByMobile answers POST /topapi/v2/user/getbymobile?access_token=…
// with {"mobile": …} (JSON or a form).
func (a *IMAPI) getByMobile(r *http.Request) (int, map[string]any) {
	// The token goes in the query only: a header token is none.
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return http.StatusOK, oapiError(ErrcodeMissingToken, "", "缺少参数 access_token")
	}
	var mobile string
	if platformtest.IsJSON(r) {
		var in struct {
			Mobile string `json:"mobile"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		mobile = in.Mobile
	} else if r.ParseForm() == nil {
		mobile = r.PostForm.Get("mobile")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.valid(tok) {
		return http.StatusOK, oapiError(ErrcodeAuth, "40014", "不合法的access_token")
	}
	a.lookups = append(a.lookups, mobile)
	if len(a.lookupAnswers) > 0 {
		f := a.lookupAnswers[0]
		a.lookupAnswers = a.lookupAnswers[1:]
		return f.status, f.body
	}
	switch {
	case mobile == "":
		return http.StatusOK, oapiError(ErrcodeBadParam, "", "无效的参数")
	case !mobileForm.MatchString(mobile): // the forms DingTalk stores
		return http.StatusOK, oapiError(ErrcodeBadMobile, "", "企业中的手机号码无效")
	}
	phone := "+86" + mobile
	if strings.HasPrefix(mobile, "+") { // +852-12345678
		phone = strings.Replace(mobile, "-", "", 1)
	}
	id, ok := a.users[phone]
	if !ok {
		return http.StatusOK, oapiError(ErrcodeNoUser, "", "找不到该用户")
	}
	return http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "result": map[string]any{"userid": id},
		"request_id": requestID()}
}

// apiError is the new API's error body.
func apiError(code, message string) map[string]any {
	return map[string]any{"code": code, "message": message, "requestid": requestID()}
}

// oapiError is the old API's error body; errcode 88 carries subCode.
func oapiError(errcode int, subCode, msg string) map[string]any {
	out := map[string]any{"errcode": errcode, "errmsg": msg, "request_id": requestID()}
	if subCode != "" {
		out["sub_code"], out["sub_msg"] = subCode, msg
		out["errmsg"] = "ding talk error[subcode=" + subCode + ",submsg=" + msg + "]"
	}
	return out
}

func requestID() string { return platformtest.RandomString(13, lowerDigits) }

func write(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
