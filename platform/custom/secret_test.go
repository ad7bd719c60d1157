package custom

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two secrets are equal")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("secret %q: want whsec_ and base64 of 32 bytes (%v, %d bytes)", a, err, len(key))
	}
	if err := ValidateSecret(a); err != nil {
		t.Errorf("a generated secret is invalid: %v", err)
	}
}

func TestValidateSecret(t *testing.T) {
	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		secret string
		rule   string // "" when valid
	}{
		{"whsec_" + key(24), ""},
		{"whsec_" + key(32), ""},
		{"whsec_" + key(64), ""},
		{testSecret, ""},
		{"", "must start with whsec_"},
		{key(32), "must start with whsec_"},
		{"WHSEC_" + key(32), "must start with whsec_"},
		{"whsec_" + key(23), "must decode to 24 to 64 bytes"},
		{"whsec_" + key(65), "must decode to 24 to 64 bytes"},
		{"whsec_not*base64!secretvalue", "standard base64"},
		{"whsec_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "standard base64"},
	}
	for _, tt := range tests {
		err := ValidateSecret(tt.secret)
		if tt.rule == "" {
			if err != nil {
				t.Errorf("ValidateSecret(%q) = %v", tt.secret, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ValidateSecret(%q) = %v, want an error saying %q", tt.secret, err, tt.rule)
			continue
		}
		if herald.ErrorCode(err) != herald.CodeInvalidArgument {
			t.Errorf("code %s, want INVALID_ARGUMENT", herald.ErrorCode(err))
		}
		if rest := strings.TrimPrefix(tt.secret, "whsec_"); len(rest) > 6 && strings.Contains(err.Error(), rest) {
			t.Errorf("the error %q quotes the secret", err)
		}
	}
}
