package bridge

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzRequestInput feeds arbitrary bytes to the parsing and validation a
// request goes through before anything is dialled: the JSON input, the
// profile or custom TLS spec, the deadlines and the client options key.
// Nothing may panic, and input that is not a JSON object is refused as
// invalid input. Run longer by hand:
//
//	go test -run '^$' -fuzz FuzzRequestInput -fuzztime 5m ./bridge/
func FuzzRequestInput(f *testing.F) {
	seeds := []string{
		`{"requestUrl":"https://127.0.0.1:1/","requestMethod":"GET","tlsClientIdentifier":"chrome_150"}`,
		`{"tlsClientIdentifier":"nosuch_1"}`,
		`{"customTlsClient":{"ja3String":"771,4865-4866,0-23-65281,29-23,0","h2Settings":{"HEADER_TABLE_SIZE":65536},"h2SettingsOrder":["HEADER_TABLE_SIZE"],"pseudoHeaderOrder":[":method",":path",":authority",":scheme"]}}`,
		`{"customTlsClient":{"ja3String":"nonsense","h2Settings":{"BOGUS":1}}}`,
		`{"timeoutMilliseconds":-1,"timeoutSeconds":5,"proxyUrl":"http://127.0.0.1:1"}`,
		`{"headersList":[["a","b"],["c"]],"requestBody":"!!notbase64","isByteRequest":true}`,
		`{"certificatePinningHosts":{"a":["b"]},"transportOptions":{"maxConnsPerHost":-5}}`,
		`[]`, `null`, `"x"`, `{`, ``,
	}
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		b := New()
		in, err := b.parseInput(payload)
		var object map[string]json.RawMessage
		isObject := json.Unmarshal(payload, &object) == nil && object != nil
		if err != nil {
			var coded *codedError
			if !errors.As(err, &coded) || coded.code != CodeInvalidInput {
				t.Fatalf("parse error %v is not invalid input", err)
			}
			return
		}
		if !isObject {
			t.Fatalf("%q parsed as a request input", payload)
		}
		_ = checkProfileName(in)
		if in.TLSClientIdentifier != "" || in.CustomTLSClient != nil {
			_, _ = resolveProfile(in.TLSClientIdentifier, in.CustomTLSClient)
		}
		_, _, _ = requestDeadline(in)
		_, _ = clientTimeout(in)
		if spec, _, err := specFor(in); err == nil {
			_, _ = spec.key()
		}
	})
}
