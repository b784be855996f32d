package bridge

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

func fingerprintOf(t *testing.T, b *Bridge, profile string, extra map[string]any) testserver.FingerprintReply {
	t.Helper()
	in := req(testServers(t).Fingerprint+"/fp", map[string]any{
		"tlsClientIdentifier": profile, "sessionId": "", "headersList": [][2]string{{"user-agent", "x"}},
	})
	for k, v := range extra {
		in[k] = v
	}
	out := doRequest(t, b, in)
	if out.Status != 200 {
		t.Fatalf("%s: status %d error %q %.200q", profile, out.Status, out.ErrorCode, out.Body)
	}
	return decode[testserver.FingerprintReply](t, dataURLBytes(t, out.Body))
}

func register(t *testing.T, b *Bridge, specs ...IdentitySpec) registerProfilesOutput {
	t.Helper()
	_, raw := b.RegisterProfiles(mustJSON(t, map[string]any{"profiles": specs}))
	var out struct {
		registerProfilesOutput
		Body string `json:"body"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Body != "" {
		t.Fatalf("registerProfiles: %s", raw)
	}
	return out.registerProfilesOutput
}

// A compiled profile written out as data and registered back must put the
// same ClientHello and HTTP/2 preface on the wire: this is what lets the
// identity files stand in for compiled code.
func TestIdentityDataBuildsTheSameFingerprintAsTheCompiledProfile(t *testing.T) {
	b := New()
	for _, name := range []string{"chrome_152", "chrome_131", "firefox_147", "safari_ios_26_0", "safari_ios_18_5", "okhttp4_android_13"} {
		t.Run(name, func(t *testing.T) {
			spec, err := DumpProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Through JSON, as the binding sends it.
			var back IdentitySpec
			if err := json.Unmarshal(mustJSON(t, spec), &back); err != nil {
				t.Fatal(err)
			}
			back.Name = "data_" + name
			register(t, b, back)
			want := fingerprintOf(t, b, name, nil)
			got := fingerprintOf(t, b, back.Name, nil)
			if got.JA4 != want.JA4 || got.JA3NHash != want.JA3NHash || got.Akamai != want.Akamai {
				t.Fatalf("data-built %s: JA4 %s JA3N %s Akamai %s; compiled: %s %s %s",
					name, got.JA4, got.JA3NHash, got.Akamai, want.JA4, want.JA3NHash, want.Akamai)
			}
			if !strings.HasPrefix(got.JA4, "t13d") {
				t.Fatalf("JA4 %s", got.JA4)
			}
		})
	}
}

// Chrome's published JA4 for 152-154 (17 extensions, trust_anchors among
// them) from data with the shuffle on: stable over 20 connections while
// the extension order moves.
func TestShuffledChromeIdentityKeepsItsJA4(t *testing.T) {
	b := New()
	spec, err := DumpProfile("chrome_152")
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = "shuffled_chrome"
	register(t, b, spec)
	orders := map[string]bool{}
	for i := 0; i < 20; i++ {
		fp := fingerprintOf(t, b, spec.Name, map[string]any{"withRandomTLSExtensionOrder": true})
		if fp.JA4 != "t13d1517h2_8daaf6152771_cb7bf5808d99" {
			t.Fatalf("connection %d: JA4 %s", i, fp.JA4)
		}
		orders[fp.JA3] = true
	}
	if len(orders) < 2 {
		t.Fatalf("20 connections, %d extension order(s): the shuffle is off", len(orders))
	}
}

func TestRegisterProfilesRefusesBadFieldsByName(t *testing.T) {
	good, err := DumpProfile("chrome_152")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(s *IdentitySpec)
		field string
	}{
		{"cipher", func(s *IdentitySpec) { s.TLS.CipherSuites[3] = "TLS_AES" }, "tls.cipher_suites[3]"},
		{"extension", func(s *IdentitySpec) { s.TLS.Extensions[2].Name = "sni" }, "tls.extensions[2].name"},
		{"group", func(s *IdentitySpec) { s.TLS.Extensions[1].Groups = []string{"GREASE", "x25519"} }, "tls.extensions[1].groups[1]"},
		{"alps", func(s *IdentitySpec) { s.TLS.Extensions[3].Codepoint = 1 }, "tls.extensions[3].codepoint"},
		{"setting", func(s *IdentitySpec) {
			s.HTTP2.Settings[0][0] = json.RawMessage(`"HEADER_TABLE"`)
		}, "http2.settings[0]"},
		{"pseudo", func(s *IdentitySpec) { s.HTTP2.PseudoHeaderOrder = []string{":method", ":path"} }, "http2.pseudo_header_order"},
		{"weight", func(s *IdentitySpec) { s.HTTP2.HeadersPriority = &PrioritySpec{Weight: 0} }, "http2.headers_priority.weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var spec IdentitySpec
			if err := json.Unmarshal(mustJSON(t, good), &spec); err != nil {
				t.Fatal(err)
			}
			spec.Name = "bad_" + c.name
			c.edit(&spec)
			_, raw := New().RegisterProfiles(mustJSON(t, map[string]any{"profiles": []IdentitySpec{spec}}))
			out := decode[Response](t, raw)
			if out.ErrorCode != CodeInvalidInput || !strings.Contains(out.Body, "identity field "+c.field+":") {
				t.Fatalf("want an error naming %s, got %s %q", c.field, out.ErrorCode, out.Body)
			}
			if _, ok := identities.lookup(spec.Name); ok {
				t.Fatal("a refused identity was registered")
			}
		})
	}
}

func TestRegisterProfilesRefusesUnknownExtensionFieldsAndTakenNames(t *testing.T) {
	b := New()
	raw := `{"profiles":[{"name":"typo","tls":{"cipher_suites":["0x1301"],"extensions":[{"name":"supported_groups","group":["0x001d"]}]},"http2":{"pseudo_header_order":[":method",":authority",":scheme",":path"]}}]}`
	_, answer := b.RegisterProfiles([]byte(raw))
	if out := decode[Response](t, answer); !strings.Contains(out.Body, "tls.extensions[0].group:") {
		t.Fatalf("typo field not named: %q", out.Body)
	}
	spec, _ := DumpProfile("chrome_131")
	_, answer = b.RegisterProfiles(mustJSON(t, map[string]any{"profiles": []IdentitySpec{spec}}))
	if out := decode[Response](t, answer); !strings.Contains(out.Body, "compiled profiles") {
		t.Fatalf("shadowing a compiled name not refused: %q", out.Body)
	}
	spec.Name = "same_name_twice"
	register(t, b, spec)
	register(t, b, spec) // the same spec again: a no-op
	spec.HTTP2.WindowUpdate++
	_, answer = b.RegisterProfiles(mustJSON(t, map[string]any{"profiles": []IdentitySpec{spec}}))
	if out := decode[Response](t, answer); !strings.Contains(out.Body, "already registered with a different spec") {
		t.Fatalf("a changed spec under a taken name not refused: %q", out.Body)
	}
}

// Chrome sends priority over HTTP/2 only: listed in http2OnlyHeaders, it
// is kept when ALPN picks h2 and left out over HTTP/1.1.
func TestHTTP2OnlyHeadersAreLeftOutOverHTTP1(t *testing.T) {
	b := New()
	for _, forceHTTP1 := range []bool{false, true} {
		fp := fingerprintOf(t, b, "chrome_152", map[string]any{
			"headersList":      [][2]string{{"user-agent", "x"}, {"priority", "u=0, i"}, {"accept", "*/*"}},
			"http2OnlyHeaders": []string{"priority"},
			"forceHttp1":       forceHTTP1,
		})
		sent := map[string]bool{}
		for _, h := range fp.Headers {
			sent[strings.ToLower(h[0])] = true
		}
		if sent["priority"] == forceHTTP1 || !sent["accept"] {
			t.Fatalf("%s: headers %v", fp.HTTPVersion, fp.Headers)
		}
	}
}

// A customTlsClient whose hello cannot be built (an extension id utls has
// no type for) is bad input, refused before any connection, not a TLS
// failure of the handshake that a retry might cure.
func TestACustomSpecThatCannotBuildAHelloIsBadInput(t *testing.T) {
	out := doRequest(t, New(), req(testServers(t).Fingerprint+"/", map[string]any{
		"sessionId": "",
		"customTlsClient": map[string]any{
			"ja3String":         "771,4865,0-23-65281-10-11-35-16-5-13-43-45-51-64000,29-23-24,0",
			"supportedVersions": []string{"1.3"}, "keyShareCurves": []string{"X25519"},
		},
	}))
	if out.ErrorCode != CodeInvalidInput || !strings.Contains(out.Body, "invalid customTlsClient") {
		t.Fatalf("got %s %q", out.ErrorCode, out.Body)
	}
}
