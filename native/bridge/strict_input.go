package bridge

import (
	"bytes"
	"encoding/json"
)

// decodeStrict decodes an export's JSON input and refuses fields it does
// not know: a misspelt option must not be silently ignored.
func decodeStrict(payload []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// refuseInput is the invalid_input envelope of an export whose input
// could not be used.
func (b *Bridge) refuseInput(export, reason string) (string, []byte) {
	out := b.errorResponse(nil, newError(CodeInvalidInput, export+": "+reason))
	return out.ID, marshal(out)
}
