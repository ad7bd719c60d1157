package custom

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/heraldhq/herald"
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Bounds of the decoded key of a signing secret, in bytes. Standard
// Webhooks asks for 24 to 64; Herald generates 32.
const (
	minSecretKey = 24
	maxSecretKey = 64
	newSecretKey = 32
)

// GenerateSecret returns a new signing secret: "whsec_" and the standard
// base64 of 32 random bytes from crypto/rand. It fails only when the system's
// random source does.
func GenerateSecret() (string, error) {
	key := make([]byte, newSecretKey)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ValidateSecret checks that s is a Standard Webhooks signing secret:
// "whsec_" followed by standard base64 of 24 to 64 bytes. The error is an
// INVALID_ARGUMENT herald.Error about "signingSecret" that states the rule
// broken and never quotes the secret.
func ValidateSecret(s string) error {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return herald.Invalidf("signingSecret", "must start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return herald.Invalidf("signingSecret", "must be %s followed by standard base64", SecretPrefix)
	}
	if len(key) < minSecretKey || len(key) > maxSecretKey {
		return herald.Invalidf("signingSecret", "must decode to %d to %d bytes after %s, got %d", minSecretKey, maxSecretKey, SecretPrefix, len(key))
	}
	return nil
}
