package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/fingerprint"
	"github.com/scrapy-tlsclient/native/testserver"
)

func readHello(t *testing.T, name string) *parsedHello {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHello(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func extNames(id *identityTLS) []string {
	var names []string
	for _, e := range id.Extensions {
		names = append(names, e["name"].(string))
	}
	return names
}

func findExt(t *testing.T, id *identityTLS, name string) map[string]any {
	t.Helper()
	for _, e := range id.Extensions {
		if e["name"] == name {
			return e
		}
	}
	t.Fatalf("no %s extension", name)
	return nil
}

// asJSON compares through JSON so that expectations read like the file.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIdentityTLSChromium(t *testing.T) {
	id, err := readHello(t, "chromium-156.0.8078.114-hello.hex").toIdentityTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(id.CipherSuites, ","), "GREASE,0x1301,0x1302,0x1303,0xc02b,0xc02f,0xc02c,0xc030,0xcca9,0xcca8,0xc013,0xc014,0x009c,0x009d,0x002f,0x0035"; got != want {
		t.Errorf("cipher suites %s, want %s", got, want)
	}
	names := extNames(id)
	// BoringSSL sends one GREASE extension first and one last.
	if len(names) != 19 || names[0] != "grease" || names[len(names)-1] != "grease" {
		t.Errorf("extensions %v", names)
	}
	for name, want := range map[string]string{
		"supported_groups":       `{"groups":["GREASE","0x11ec","0x001d","0x0017","0x0018"],"name":"supported_groups"}`,
		"key_share":              `{"groups":["GREASE","0x11ec","0x001d"],"name":"key_share"}`,
		"supported_versions":     `{"name":"supported_versions","versions":["GREASE","0x0304","0x0303"]}`,
		"alpn":                   `{"name":"alpn","protocols":["h2","http/1.1"]}`,
		"application_settings":   `{"codepoint":17613,"name":"application_settings","protocols":["h2"]}`,
		"compress_certificate":   `{"algorithms":["brotli"],"name":"compress_certificate"}`,
		"psk_key_exchange_modes": `{"modes":[1],"name":"psk_key_exchange_modes"}`,
		"ec_point_formats":       `{"formats":[0],"name":"ec_point_formats"}`,
		"encrypted_client_hello": `{"cipher_suites":[{"aead":"0x0001","kdf":"0x0001"}],"grease":true,"name":"encrypted_client_hello","payload_lengths":[` + echPayload(t, "chromium-156.0.8078.114-hello.hex") + `]}`,
	} {
		if got := asJSON(t, findExt(t, id, name)); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	sigs := findExt(t, id, "signature_algorithms")["algorithms"].([]string)
	if sigs[0] != "GREASE" || sigs[1] != "0x0904" {
		t.Errorf("signature_algorithms start %v", sigs[:2])
	}
	anchors := findExt(t, id, "trust_anchors")["anchor_ids"].([]string)
	if len(anchors) == 0 || anchors[0] != "82df130201" {
		t.Errorf("trust anchor IDs %v", anchors)
	}
}

// echPayload is the payload length of the ECH extension in the capture, a
// value BoringSSL derives from the rest of the hello.
func echPayload(t *testing.T, name string) string {
	for _, e := range readHello(t, name).extensions {
		if e.id == 0xfe0d {
			r := fingerprint.NewReader(e.data)
			r.Bytes(1 + 2 + 2 + 1)
			r.Vec16()
			return asJSON(t, len(r.Vec16().Rest()))
		}
	}
	t.Fatal("no ECH extension")
	return ""
}

func TestIdentityTLSFirefox(t *testing.T) {
	id, err := readHello(t, "firefox-esr-153.8.0-hello.hex").toIdentityTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	want := "server_name,extended_master_secret,renegotiation_info,supported_groups,ec_point_formats,session_ticket,alpn,status_request,delegated_credentials,signed_certificate_timestamp,key_share,supported_versions,signature_algorithms,psk_key_exchange_modes,record_size_limit,compress_certificate,encrypted_client_hello"
	if got := strings.Join(extNames(id), ","); got != want {
		t.Errorf("extensions %s, want %s", got, want)
	}
	for name, want := range map[string]string{
		"key_share":             `{"groups":["0x11ec","0x001d","0x0017"],"name":"key_share"}`,
		"record_size_limit":     `{"limit":16385,"name":"record_size_limit"}`,
		"compress_certificate":  `{"algorithms":["zlib","brotli","zstd"],"name":"compress_certificate"}`,
		"delegated_credentials": `{"algorithms":["0x0403","0x0503","0x0603","0x0203"],"name":"delegated_credentials"}`,
	} {
		if got := asJSON(t, findExt(t, id, name)); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	// NSS draws the GREASE ECH AEAD per connection: AES-128-GCM or
	// ChaCha20-Poly1305.
	suites := asJSON(t, findExt(t, id, "encrypted_client_hello")["cipher_suites"])
	if suites != `[{"aead":"0x0001","kdf":"0x0001"}]` && suites != `[{"aead":"0x0003","kdf":"0x0001"}]` {
		t.Errorf("ECH suites %s", suites)
	}
}

func TestIdentityTLSUnknownExtension(t *testing.T) {
	ext, err := describeExtension(helloExtension{0x1234, []byte{0xab}})
	if err != nil || asJSON(t, ext) != `{"data":"ab","id":"0x1234","name":"generic"}` {
		t.Errorf("got %v, %v", ext, err)
	}
	if _, err := describeExtension(helloExtension{0x001c, []byte{1}}); err == nil {
		t.Error("a short record_size_limit was accepted")
	}
}

func TestIdentityHTTP2(t *testing.T) {
	p := &testserver.H2Preface{
		Settings:          [][2]uint32{{1, 65536}, {2, 0}, {4, 6291456}, {6, 262144}, {0x99, 1}},
		WindowUpdate:      15663105,
		HasWindowUpdate:   true,
		HeadersPriority:   &testserver.H2Priority{StreamID: 1, DependsOn: 0, Exclusive: true, Weight: 256},
		PseudoHeaderOrder: []string{":method", ":authority", ":scheme", ":path"},
	}
	want := `{"settings":[["HEADER_TABLE_SIZE",65536],["ENABLE_PUSH",0],["INITIAL_WINDOW_SIZE",6291456],["MAX_HEADER_LIST_SIZE",262144],["0x99",1]],` +
		`"window_update":15663105,"priority_frames":[],"headers_priority":{"depends_on":0,"exclusive":true,"weight":256},` +
		`"pseudo_header_order":[":method",":authority",":scheme",":path"]}`
	if got := asJSON(t, toIdentityHTTP2(p)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestMergeECH(t *testing.T) {
	hello := func(aead byte, payload int) *parsedHello {
		data := []byte{0, 0, 1, 0, aead, 7, 0, 1, 0xee, byte(payload >> 8), byte(payload)}
		data = append(data, make([]byte, payload)...)
		return &parsedHello{extensions: []helloExtension{{0xfe0d, data}}}
	}
	hellos := []*parsedHello{hello(1, 240), hello(3, 144), hello(1, 176), hello(1, 240)}
	id, err := hellos[0].toIdentityTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := mergeECH(id, hellos); err != nil {
		t.Fatal(err)
	}
	want := `{"cipher_suites":[{"aead":"0x0001","kdf":"0x0001"},{"aead":"0x0003","kdf":"0x0001"}],"grease":true,"name":"encrypted_client_hello","payload_lengths":[144,176,240]}`
	if got := asJSON(t, id.Extensions[0]); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
