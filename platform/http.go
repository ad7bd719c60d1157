package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald"
)

// maxResponse is how much of an answer is read; platforms answer in a few
// hundred bytes, and the delivery log keeps 8 KiB.
const maxResponse = 64 << 10

// Response is a platform's answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends body to target with the given headers and reads the answer.
// Its error never contains the URL, which may hold a secret.
func Post(ctx context.Context, c *http.Client, target string, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("cannot build the request: invalid URL")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Herald")
	resp, err := c.Do(req)
	if err != nil {
		return nil, StripURL(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", StripURL(err))
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Exchange posts body to target with header (see Post) and has classify
// read the answer, as of when it arrived. A request that got no answer is
// a TransportFailure. Its Result never contains the URL.
func Exchange(ctx context.Context, c *http.Client, target string, header http.Header, body []byte,
	classify func(resp *Response, requestBody []byte, now time.Time) Result) Result {
	resp, err := Post(ctx, c, target, header, body)
	if err != nil {
		return TransportFailure(err, body)
	}
	return classify(resp, body, time.Now())
}

// StripURL removes the request URL from errors of net/http, which quote it.
func StripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// TransportFailure is the Result of a request that got no answer: a network
// error or a timeout. It is always worth retrying.
func TransportFailure(err error, requestBody []byte) Result {
	return Result{Outcome: herald.OutcomeRetryable, Error: err.Error(), RequestBody: string(requestBody)}
}

// ClassifyStatus is the outcome an HTTP status means when the body says
// nothing more: 2xx succeeds; 429 is a rate limit; 408 and 5xx are
// transient; any other status is permanent.
func ClassifyStatus(status int) herald.Outcome {
	switch {
	case status >= 200 && status < 300:
		return herald.OutcomeSuccess
	case status == http.StatusTooManyRequests:
		return herald.OutcomeRateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		return herald.OutcomeRetryable
	}
	return herald.OutcomePermanent
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date, and
// returns zero when there is none or it cannot be read.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Answer builds the Result of an HTTP answer that carries no body code,
// classified by its status and its Retry-After header.
func Answer(resp *Response, requestBody []byte, now time.Time) Result {
	r := Result{
		Outcome:      ClassifyStatus(resp.Status),
		HTTPStatus:   resp.Status,
		RequestBody:  string(requestBody),
		ResponseBody: string(resp.Body),
	}
	if r.Outcome != herald.OutcomeSuccess {
		r.RetryAfter = RetryAfter(resp.Header, now)
		r.Error = fmt.Sprintf("HTTP %d", resp.Status)
	}
	return r
}
