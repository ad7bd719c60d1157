package platform

import (
	"bytes"
	"encoding/json"
)

// JSON encodes v as compact JSON, the way every platform's body is
// written: without escaping <, > and & (so that "&lt;" and "<font>" read in
// the delivery log as the platform receives them, and a text's size in
// bytes is what the platform counts) and without the trailing newline of
// json.Encoder.
func JSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
