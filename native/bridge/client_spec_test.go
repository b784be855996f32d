package bridge

import (
	"reflect"
	"testing"
)

// perCallFields are the RequestInput fields that do not fix the native
// client: each call sets them on its own request. Every other field must
// change the session key (TestEveryClientFieldIsInTheKey).
var perCallFields = map[string]bool{
	"RequestURL": true, "RequestMethod": true, "RequestBody": true, "IsByteRequest": true,
	"IsByteResponse": true, "Headers": true, "HeaderOrder": true, "RequestHostOverride": true,
	"RequestCookies": true, "SessionID": true, "WithDebug": true,
	"StreamOutputPath": true, "StreamOutputBlockSize": true, "StreamOutputEOFSymbol": true,
	"HeadersList": true, "Latin1Headers": true, "HTTP2OnlyHeaders": true, "RawBody": true,
	"StreamID": true, "WithPeerCertificate": true, "StreamBufferChunks": true,
	"PrefetchBytes": true, "PrefetchTimeoutMs": true, "BinaryBody": true, "BinaryMin": true,
	"rawRequestBody": true,
	// The deadline is per call, except through HTTP(S) proxies
	// (TestProxyDeadlineIsInTheKey).
	"TimeoutSeconds": true, "TimeoutMilliseconds": true,
	// clientState: set on a session's client by every call.
	"ProxyURL": true, "IsRotatingProxy": true, "FollowRedirects": true,
}

// nonZero sets v (settable) to a value other than its zero value.
func nonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64:
		if v.CanInt() {
			v.SetInt(7)
		} else {
			v.SetUint(7)
		}
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		nonZero(t, elem.Elem())
		v.Set(elem)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		key, value := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		nonZero(t, key)
		nonZero(t, value)
		m.SetMapIndex(key, value)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		nonZero(t, s.Index(0))
		v.Set(s)
	case reflect.Array:
		nonZero(t, v.Index(0))
	case reflect.Struct:
		nonZero(t, v.Field(0))
	default:
		t.Fatalf("no non-zero value for kind %s", v.Kind())
	}
}

func mustKey(t *testing.T, in *RequestInput) string {
	t.Helper()
	spec, _, err := specFor(in)
	if err != nil {
		t.Fatal(err)
	}
	key, err := spec.key()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestEveryClientFieldIsInTheKey fails when a RequestInput field that
// buildClient could read is missing from clientSpec: two calls on one
// session that differ in it would silently share the first call's client.
func TestEveryClientFieldIsInTheKey(t *testing.T) {
	base := mustKey(t, &RequestInput{})
	fields := reflect.TypeOf(RequestInput{})
	for i := range fields.NumField() {
		name := fields.Field(i).Name
		if perCallFields[name] {
			continue
		}
		in := RequestInput{}
		nonZero(t, reflect.ValueOf(&in).Elem().Field(i))
		if mustKey(t, &in) == base {
			t.Errorf("RequestInput.%s changes the client but not the session key: add it to clientSpec "+
				"(or to perCallFields if each call applies it)", name)
		}
	}
}

// TestEverySpecFieldIsEncoded fails when a clientSpec field is left out of
// its encoding (a json:"-" tag, an unexported field).
func TestEverySpecFieldIsEncoded(t *testing.T) {
	base, err := clientSpec{}.key()
	if err != nil {
		t.Fatal(err)
	}
	fields := reflect.TypeOf(clientSpec{})
	for i := range fields.NumField() {
		spec := clientSpec{}
		nonZero(t, reflect.ValueOf(&spec).Elem().Field(i))
		if key, err := spec.key(); err != nil || key == base {
			t.Errorf("clientSpec.%s is not in the key (%v)", fields.Field(i).Name, err)
		}
	}
}

func TestProxyDeadlineIsInTheKey(t *testing.T) {
	proxy := "http://127.0.0.1:1"
	a := mustKey(t, &RequestInput{ProxyURL: &proxy, TimeoutMilliseconds: 1000})
	b := mustKey(t, &RequestInput{ProxyURL: &proxy, TimeoutMilliseconds: 2000})
	if a == b {
		t.Error("through an HTTP proxy, the deadline fixes the client (its CONNECT timeout) but is not in the key")
	}
	if mustKey(t, &RequestInput{TimeoutMilliseconds: 1000}) != mustKey(t, &RequestInput{TimeoutMilliseconds: 2000}) {
		t.Error("without a proxy, the deadline is per call but changes the key")
	}
	socks := "socks5://127.0.0.1:1"
	if mustKey(t, &RequestInput{ProxyURL: &proxy}) == mustKey(t, &RequestInput{ProxyURL: &socks}) {
		t.Error("the proxy's kind fixes the client's dialer but is not in the key")
	}
}
