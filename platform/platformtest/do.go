package platformtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Do sends one request with http.DefaultClient, as a test of a fake (or of
// anything else listening) would, and returns the answer and its body: the
// body is read and closed already. It fails t when the request cannot be
// built or sent.
func Do(t testing.TB, method, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s: %v", method, err)
	}
	return resp, string(b)
}
