// Package secret encrypts Herald's stored secrets (webhook URLs, signing
// secrets, IM credentials) at rest with AES-256-GCM under the key given by
// HERALD_SECRET_KEY or kept in a key file (SPEC §9).
//
// Nothing in this package ever puts key material or plaintext into an error.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeySize is the length in bytes of a Herald secret key (AES-256).
const KeySize = 32

const (
	version   byte = 0x01
	nonceSize      = 12
	tagSize        = 16
	// overhead is the number of bytes Seal adds to a non-empty plaintext.
	overhead = 1 + nonceSize + tagSize
)

// ErrCannotOpen is returned (possibly wrapped, never with secret material)
// by Open when a sealed value cannot be decrypted: the key or the aad differ
// from the ones it was sealed with, or the value is truncated or tampered with.
var ErrCannotOpen = errors.New("secret: cannot open sealed value (wrong HERALD_SECRET_KEY or corrupted data)")

// Box seals and opens secrets with AES-256-GCM under one 32-byte key.
// A Box is immutable after NewBox and safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for a 32-byte key; any other length is an error
// (AES-128 and AES-192 keys are refused too). The error does not contain the
// key. The Box does not retain key, so the caller may zero it afterwards.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key must be %d bytes, got %d bytes", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: creating AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: creating GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext and binds it to aad (additional authenticated data,
// e.g. "webhook-url:projects/p/webhooks/w"), so a sealed value copied to
// another row, whose aad differs, fails to Open.
//
// The output is 1 version byte (0x01) || 12-byte random nonce ||
// ciphertext+16-byte tag, so it is len(plaintext)+29 bytes and two seals of
// the same plaintext differ. An empty plaintext seals to nil, so "no secret"
// stays NULL in the database.
func (b *Box) Seal(plaintext, aad string) []byte {
	if plaintext == "" {
		return nil
	}
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = version
	nonce := out[1 : 1+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		// crypto/rand.Read does not return errors since Go 1.24; never
		// seal under a non-random nonce if that ever changes.
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return b.aead.Seal(out, nonce, []byte(plaintext), []byte(aad))
}

// Open reverses Seal: it returns the plaintext sealed under this Box's key
// with the same aad. A nil or empty input opens to "" with no error (the
// counterpart of Seal("")). A wrong key, wrong aad, unknown version byte,
// truncated or tampered input yields an error matching
// errors.Is(err, ErrCannotOpen) that contains no secret material.
func (b *Box) Open(sealed []byte, aad string) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	if sealed[0] != version {
		return "", fmt.Errorf("%w: unknown format version %d", ErrCannotOpen, sealed[0])
	}
	if len(sealed) < overhead {
		return "", fmt.Errorf("%w: value too short", ErrCannotOpen)
	}
	nonce := sealed[1 : 1+nonceSize]
	pt, err := b.aead.Open(nil, nonce, sealed[1+nonceSize:], []byte(aad))
	if err != nil {
		return "", ErrCannotOpen
	}
	return string(pt), nil
}

// keyForm is the expected form of a key, quoted in errors.
const keyForm = "32 bytes in base64 (openssl rand -base64 32)"

// ParseKey decodes a HERALD_SECRET_KEY value: standard or URL-safe base64,
// padded or not, of exactly 32 bytes. Surrounding whitespace is ignored.
// Errors name HERALD_SECRET_KEY and the expected form, and never contain the
// value itself.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("HERALD_SECRET_KEY is empty; it must be " + keyForm)
	}
	n, err := decodeKey(s)
	if err != nil {
		return nil, errors.New("HERALD_SECRET_KEY is not valid base64; it must be " + keyForm)
	}
	if len(n) != KeySize {
		return nil, fmt.Errorf("HERALD_SECRET_KEY must be %s, got %d bytes", keyForm, len(n))
	}
	return n, nil
}

// decodeKey decodes s with the first of the standard, URL-safe, unpadded
// standard and unpadded URL-safe base64 encodings that accepts it. Valid
// inputs decode to the same bytes under every encoding that accepts them.
func decodeKey(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.URLEncoding,
		base64.RawStdEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// GenerateKey returns a new key of 32 bytes from crypto/rand.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: generating key: %w", err)
	}
	return key, nil
}

// maxKeyFileSize bounds how much of a key file is read; a valid one is 45 bytes.
const maxKeyFileSize = 4096

// LoadOrCreateKeyFile returns the key stored (as base64, see ParseKey) in the
// file at path, with created=false. When path does not exist it creates it
// with mode 0600 holding base64(GenerateKey()) + "\n" and returns that key
// with created=true.
//
// Creation is atomic: the key is written and fsynced to a 0600 temporary file
// in the same directory, which is then hard-linked to path; linking never
// replaces an existing file, so when another process (or goroutine) creates
// path first, its key is read and returned instead, and every caller ends up
// with the same key. On file systems without hard links it falls back to an
// exclusive create (O_EXCL) of path.
//
// An existing file readable or writable by group or others (mode&0o077 != 0)
// is refused with an error asking the operator to chmod 600 it (not checked on
// Windows, which has no such modes). A malformed file is an error naming the
// path, never its content.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	content := []byte(base64.StdEncoding.EncodeToString(key) + "\n")

	won, err := createExclusive(path, content)
	if err != nil {
		return nil, false, err
	}
	if !won {
		// Someone else created path meanwhile: use theirs.
		key, err = readKeyFile(path)
		if err != nil {
			return nil, false, err
		}
		return key, false, nil
	}
	return key, true, nil
}

// createExclusive atomically creates path with content and mode 0600 unless
// it exists. It reports false, nil when path already existed.
func createExclusive(path string, content []byte) (bool, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return false, fmt.Errorf("secret: creating key file %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // the link, if made, keeps the content alive

	if err := writeSyncClose(tmp, content); err != nil {
		return false, fmt.Errorf("secret: writing key file %s: %w", path, err)
	}

	linkErr := os.Link(tmpName, path)
	switch {
	case linkErr == nil:
		syncDir(dir)
		return true, nil
	case errors.Is(linkErr, fs.ErrExist):
		return false, nil
	}

	// Hard links unsupported (e.g. FAT, some network file systems): create
	// path exclusively instead. A concurrent reader may briefly see it empty
	// and fail as malformed, which is loud and fixed by a restart.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("secret: creating key file %s: %w", path, err)
	}
	if err := writeSyncClose(f, content); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("secret: writing key file %s: %w", path, err)
	}
	syncDir(dir)
	return true, nil
}

func writeSyncClose(f *os.File, content []byte) error {
	_, err := f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// readKeyFile reads and parses the key file at path. A missing file yields an
// error matching fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret: opening key file: %w", err)
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: key file %s has mode %#o and is accessible by group or others; run: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secret: reading key file %s: %w", path, err)
	}
	key, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s is malformed: it must hold one line with %s", path, keyForm)
	}
	return key, nil
}

func parseKeyFile(data []byte) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, errors.New("too large")
	}
	data = bytes.TrimSpace(data)
	if bytes.ContainsAny(data, "\r\n") {
		return nil, errors.New("more than one line")
	}
	key, err := decodeKey(string(data))
	if err != nil {
		return nil, err
	}
	if len(key) != KeySize {
		return nil, errors.New("wrong length")
	}
	return key, nil
}
