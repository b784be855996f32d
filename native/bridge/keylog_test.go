package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sslKeyLogFile names the key log per client, whatever the environment the
// library loaded with; "" writes none; an unwritable path costs the key
// log, not the download.
func TestSSLKeyLogFileField(t *testing.T) {
	dir := t.TempDir()
	named := filepath.Join(dir, "named.log")
	b := New()
	s := testServers(t)
	for i, extra := range []map[string]any{
		{"sessionId": "keylog-named", "sslKeyLogFile": named},
		{"sessionId": "keylog-named-again", "sslKeyLogFile": named},
		{"sessionId": "keylog-none", "sslKeyLogFile": ""},
		{"sessionId": "keylog-unwritable", "sslKeyLogFile": filepath.Join(dir, "missing", "keys.log")},
	} {
		if out := doRequest(t, b, req(s.H2+"/bytes?n=1", extra)); out.Status != 200 {
			t.Fatalf("case %d: %+v", i, out)
		}
	}
	data, err := os.ReadFile(named)
	if err != nil {
		t.Fatal(err)
	}
	// Two clients' handshakes, whole lines each.
	if n := strings.Count(string(data), "CLIENT_HANDSHAKE_TRAFFIC_SECRET "); n != 2 {
		t.Fatalf("%d handshake lines in %q", n, data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files in %s: %v", dir, entries)
	}
}
