package bridge

import (
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

func echoedHeader(t *testing.T, b *Bridge, base string, latin1 bool, value string) string {
	t.Helper()
	out := doRequest(t, b, req(base+"/echo", map[string]any{
		"latin1Headers": latin1,
		"headersList":   [][2]string{{"X-Latin", value}, {"User-Agent", "t"}},
	}))
	for _, h := range decode[testserver.EchoReply](t, dataURLBytes(t, out.Body)).Headers {
		if strings.EqualFold(h[0], "X-Latin") {
			return h[1]
		}
	}
	t.Fatal("no X-Latin header arrived")
	return ""
}

// Bytes that are not UTF-8 go out and come back as they are with
// latin1Headers, over HTTP/1.1 and HTTP/2.
func TestLatin1HeadersKeepTheirBytes(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			// The echo is JSON: the lone byte 0xE9 comes back as U+FFFD,
			// where the UTF-8 "é" of plain text comes back as itself.
			if got := echoedHeader(t, b, base, true, latin1Text("caf\xe9")); got != "caf\ufffd" {
				t.Fatalf("latin1Headers sent %q, not the byte 0xE9", got)
			}
			if got := echoedHeader(t, b, base, false, "café"); got != "café" {
				t.Fatalf("plain text sent %q", got)
			}
			out := doRequest(t, b, req(base+"/redirect?to=/caf%E9", map[string]any{"latin1Headers": true}))
			if got := out.Headers["Location"]; len(got) != 1 || got[0] != latin1Text("/caf\xe9") {
				t.Fatalf("Location came back as %q", got)
			}
		})
	}
	if _, err := latin1Bytes("x", "snow \u2603"); err == nil {
		t.Fatal("a code point above U+00FF was taken")
	}
}
