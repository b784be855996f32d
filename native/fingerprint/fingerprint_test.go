package fingerprint

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Unit tests of the fingerprint computations: ClientHello
// reading and parsing, JA3, JA4 and the HTTP/2 capture. Expected values come
// from the JA3 README (github.com/salesforce/ja3), the JA4 specification
// (github.com/FoxIO-LLC/ja4, technical_details/JA4.md) and published Akamai
// fingerprints of Chrome, Firefox and Safari.

// --- building ClientHellos ---

// testHello builds a ClientHello handshake message, header included.
func testHello(version uint16, ciphers []uint16, exts ...[]byte) []byte {
	body := u16(version)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // empty session id
	body = append(body, vec16(u16s(ciphers...))...)
	body = append(body, 1, 0) // compression: null
	if exts != nil {
		body = append(body, vec16(slices.Concat(exts...))...)
	}
	return append([]byte{handshakeTypeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, u16(v)...)
	}
	return b
}

func vec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }
func vec16(b []byte) []byte { return append(u16(uint16(len(b))), b...) }

func testExt(typ uint16, data []byte) []byte { return append(u16(typ), vec16(data)...) }

func sniExt(name string) []byte {
	return testExt(extServerName, vec16(append([]byte{0}, vec16([]byte(name))...)))
}
func groupsExt(groups ...uint16) []byte { return testExt(extSupportedGroups, vec16(u16s(groups...))) }
func pointsExt(points ...byte) []byte   { return testExt(extECPointFormats, vec8(points)) }
func sigAlgsExt(algs ...uint16) []byte  { return testExt(extSignatureAlgorithms, vec16(u16s(algs...))) }
func versionsExt(vs ...uint16) []byte   { return testExt(extSupportedVersions, vec8(u16s(vs...))) }

func alpnExt(protos ...string) []byte {
	var list []byte
	for _, p := range protos {
		list = append(list, vec8([]byte(p))...)
	}
	return testExt(extALPN, vec16(list))
}

// inRecords wraps a handshake message in TLS records of at most size bytes.
func inRecords(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func mustParse(t *testing.T, msg []byte) *ClientHello {
	t.Helper()
	h, err := ParseClientHello(msg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// --- JA3 ---

func TestJA3ReadmeExamples(t *testing.T) {
	for _, tc := range []struct {
		name      string
		msg       []byte
		ja3, hash string
	}{
		{
			"with extensions",
			testHello(0x0301, []uint16{47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
				sniExt("example.org"), groupsExt(23, 24, 25), pointsExt(0)),
			"769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
			"ada70206e40642a3e4461f35503241d5",
		},
		{
			"without extensions",
			testHello(0x0301, []uint16{4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99}),
			"769,4-5-10-9-100-98-3-6-19-18-99,,,",
			"de350869b8c85de67a350c8d186f11e6",
		},
	} {
		h := mustParse(t, tc.msg)
		if got := JA3String(h, false); got != tc.ja3 || MD5Hex(got) != tc.hash {
			t.Errorf("%s: JA3 %s (%s), want %s (%s)", tc.name, got, MD5Hex(got), tc.ja3, tc.hash)
		}
	}
}

func TestJA3DropsGREASEAndJA3NSorts(t *testing.T) {
	h := mustParse(t, testHello(0x0303, []uint16{0x2a2a, 0x1301, 0xc02b},
		testExt(0xdada, nil), sniExt("a.test"), groupsExt(0x4a4a, 29, 23), testExt(0x0023, nil), pointsExt(0), testExt(0x0a0a, []byte{0})))
	if got, want := JA3String(h, false), "771,4865-49195,0-10-35-11,29-23,0"; got != want {
		t.Errorf("JA3 %s, want %s", got, want)
	}
	if got, want := JA3String(h, true), "771,4865-49195,0-10-11-35,29-23,0"; got != want {
		t.Errorf("JA3N %s, want %s", got, want)
	}
}

func TestIsGREASE(t *testing.T) {
	var grease []uint16
	for v := range 1 << 16 {
		if IsGREASE(uint16(v)) {
			grease = append(grease, uint16(v))
		}
	}
	want := []uint16{0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a,
		0x8a8a, 0x9a9a, 0xaaaa, 0xbaba, 0xcaca, 0xdada, 0xeaea, 0xfafa}
	if !slices.Equal(grease, want) {
		t.Errorf("GREASE values %04x, want %04x", grease, want)
	}
}

// --- JA4 ---

// The example of the JA4 specification: 15 cipher suites, 16 extensions,
// ALPN h2, TLS 1.3. GREASE is added throughout, which must change nothing.
var (
	specCiphers = []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
		0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	specExtOrder = []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
		0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015}
	specSigAlgs = []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
)

func specHello(t *testing.T) *ClientHello {
	var exts [][]byte
	exts = append(exts, testExt(0x3a3a, nil))
	for _, typ := range specExtOrder {
		switch typ {
		case extServerName:
			exts = append(exts, sniExt("example.com"))
		case extALPN:
			exts = append(exts, alpnExt("h2", "http/1.1"))
		case extSignatureAlgorithms:
			exts = append(exts, sigAlgsExt(specSigAlgs...))
		case extSupportedVersions:
			exts = append(exts, versionsExt(0x7a7a, 0x0304, 0x0303))
		case extSupportedGroups:
			exts = append(exts, groupsExt(0x7a7a, 0x001d, 0x0017))
		case extECPointFormats:
			exts = append(exts, pointsExt(0))
		default:
			exts = append(exts, testExt(typ, nil))
		}
	}
	exts = append(exts, testExt(0xbaba, []byte{0}))
	return mustParse(t, testHello(0x0303, append([]uint16{0x0a0a}, specCiphers...), exts...))
}

func TestJA4SpecExample(t *testing.T) {
	got := JA4Of(specHello(t))
	want := JA4Result{
		JA4:   "t13d1516h2_8daaf6152771_e5627efa2ab1",
		JA4R:  "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
		JA4O:  "t13d1516h2_acb858a92679_18f69afefd3d",
		JA4RO: "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601",
	}
	if got != want {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestJA4SpecHashes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9", "8daaf6152771"},
		{"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601", "e5627efa2ab1"},
		{"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01", "6d807ffa2a79"},
		{"", "000000000000"},
	} {
		if got := ja4Hash(tc.in); got != tc.want {
			t.Errorf("ja4Hash(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestJA4ALPNSpecExamples(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"h2", "h2"},
		{"http/1.1", "h1"},
		{"", "00"},
		{"x", "xx"},
		{"\xab", "ab"},
		{"\x20", "20"},
		{"\xab\xcd", "ad"},
		{"\x20\x61", "21"},
		{"\x30\xab", "3b"},
		{"\x61\x20", "60"},
		{"\x30\x31\xab\xcd", "3d"},
		{"\x30\xab\xcd\x31", "01"},
	} {
		if got := ja4ALPN(tc.in); got != tc.want {
			t.Errorf("ja4ALPN(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestJA4EdgeCases(t *testing.T) {
	many := make([]uint16, 120)
	for i := range many {
		many[i] = uint16(0x0100 + i)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"TLS 1.2, no SNI, no ALPN, no signature algorithms",
			testHello(0x0303, []uint16{0xc02f}, groupsExt(23)),
			"t12i0101" + "00_" + ja4Hash("c02f") + "_" + ja4Hash("000a")},
		{"no extensions at all",
			testHello(0x0301, []uint16{0x002f}),
			"t10i0100" + "00_" + ja4Hash("002f") + "_000000000000"},
		{"only SNI and ALPN leave c empty",
			testHello(0x0303, []uint16{0x002f}, sniExt("a.test"), alpnExt("http/1.1")),
			"t12d0102h1_" + ja4Hash("002f") + "_000000000000"},
		{"no cipher suites",
			testHello(0x0303, nil, versionsExt(0x0304), sigAlgsExt(0x0403)),
			"t13i0002" + "00_000000000000_" + ja4Hash("000d,002b_0403")},
		{"counts stop at 99",
			testHello(0x0303, many),
			"t12i9900" + "00_" + ja4Hash(hexList(many)) + "_000000000000"},
		{"SSL 3.0",
			testHello(0x0300, []uint16{0x000a}),
			"ts3i0100" + "00_" + ja4Hash("000a") + "_000000000000"},
	} {
		if got := JA4Of(mustParse(t, tc.msg)).JA4; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// --- reading and parsing ClientHellos ---

// goClientHello captures the ClientHello of Go's own TLS client.
func goClientHello(t *testing.T) []byte {
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		defer client.Close()
		tc := tls.Client(client, &tls.Config{ServerName: "fp.example", NextProtos: []string{"h2", "http/1.1"}})
		_ = tc.Handshake() // fails when the pipe closes
	}()
	_ = server.SetDeadline(time.Now().Add(10 * time.Second))
	raw, _, err := ReadClientHello(server)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// helloInfo replays raw to a Go TLS server and returns what Go made of it.
func helloInfo(t *testing.T, raw []byte) *tls.ClientHelloInfo {
	client, server := net.Pipe()
	defer client.Close()
	var info *tls.ClientHelloInfo
	errStop := errors.New("stop")
	tc := tls.Server(&replayConn{Conn: server, pending: raw}, &tls.Config{
		GetConfigForClient: func(i *tls.ClientHelloInfo) (*tls.Config, error) {
			info = i
			return nil, errStop
		},
	})
	go func() { _, _ = io.Copy(io.Discard, client) }() // the alert
	_ = server.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); !errors.Is(err, errStop) {
		t.Fatalf("handshake: %v", err)
	}
	return info
}

func TestParseClientHelloAgreesWithGo(t *testing.T) {
	raw := goClientHello(t)
	_, msg, err := ReadClientHello(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := mustParse(t, msg)
	info := helloInfo(t, raw)

	if h.ServerName != "fp.example" || !h.HasSNI || h.ServerName != info.ServerName {
		t.Errorf("server name %q (Go: %q)", h.ServerName, info.ServerName)
	}
	groups := make([]uint16, len(info.SupportedCurves))
	for i, g := range info.SupportedCurves {
		groups[i] = uint16(g)
	}
	sigs := make([]uint16, len(info.SignatureSchemes))
	for i, s := range info.SignatureSchemes {
		sigs[i] = uint16(s)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"cipher suites", h.CipherSuites, info.CipherSuites},
		{"extensions", h.Extensions, info.Extensions},
		{"groups", h.SupportedGroups, groups},
		{"point formats", h.PointFormats, info.SupportedPoints},
		{"signature algorithms", h.SignatureAlgorithms, sigs},
		{"ALPN", h.ALPN, info.SupportedProtos},
		{"versions", h.SupportedVersions, info.SupportedVersions},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, Go: %v", c.name, c.got, c.want)
		}
	}
	if h.LegacyVersion != tls.VersionTLS12 || len(h.SessionID) != 32 || !bytes.Equal(h.CompressionMethods, []byte{0}) {
		t.Errorf("legacy version %#x, session id %d bytes, compression %v", h.LegacyVersion, len(h.SessionID), h.CompressionMethods)
	}
	if got := JA4Of(h).JA4; !strings.HasPrefix(got, "t13d") || !strings.Contains(got, "h2_") {
		t.Errorf("JA4 %s", got)
	}
}

func TestReadClientHelloAcrossRecordsAndReads(t *testing.T) {
	_, msg, err := ReadClientHello(bytes.NewReader(goClientHello(t)))
	if err != nil {
		t.Fatal(err)
	}
	// The message split into records of size bytes, read a byte at a time
	// and followed by a record that must be kept for the replay.
	for _, size := range []int{1, 3, 50, 1000} {
		stream := append(inRecords(msg, size), 0x14, 3, 3, 0, 1, 1)
		raw, got, err := ReadClientHello(iotest.OneByteReader(bytes.NewReader(stream)))
		if err != nil {
			t.Fatalf("records of %d: %v", size, err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("records of %d: message differs", size)
		}
		if !bytes.HasPrefix(stream, raw) {
			t.Errorf("records of %d: raw bytes are not the stream's", size)
		}
		// Go's server accepts the replay of the fragmented hello.
		if info := helloInfo(t, stream); info.ServerName != "fp.example" {
			t.Errorf("records of %d: Go saw server name %q", size, info.ServerName)
		}
	}
}

func TestReadClientHelloErrors(t *testing.T) {
	hello := inRecords(testHello(0x0303, []uint16{0x1301}), 1000)
	huge := make([]byte, maxHelloBytes+10)
	huge[0] = handshakeTypeClientHello
	huge[1], huge[2], huge[3] = byte(len(huge)>>16), byte(len(huge)>>8), byte(len(huge))
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"plain HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"truncated", hello[:len(hello)-1]},
		{"empty", nil},
		{"not a ClientHello", inRecords([]byte{2, 0, 0, 1, 0}, 100)},
		{"empty record", []byte{recordTypeHandshake, 3, 1, 0, 0}},
		{"too long", inRecords(huge, 16384)},
	} {
		if _, _, err := ReadClientHello(bytes.NewReader(tc.input)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestParseClientHelloRejectsTruncation(t *testing.T) {
	msg := testHello(0x0303, []uint16{0x1301, 0x1302},
		sniExt("a.test"), alpnExt("h2"), groupsExt(29), pointsExt(0), sigAlgsExt(0x0403), versionsExt(0x0304))
	body := msg[handshakeHeaderLen:]
	noExtensions := 2 + 32 + 1 + 2 + 4 + 2 // version, random, session id, suites, compression
	for i := range len(body) {
		// The header agrees with the cut, so only the body's own lengths can
		// tell; cutting right before the extensions leaves a valid hello.
		cut := append([]byte{handshakeTypeClientHello, 0, byte(i >> 8), byte(i)}, body[:i]...)
		if _, err := ParseClientHello(cut); (err == nil) != (i == noExtensions) {
			t.Errorf("cut at %d: error %v", i, err)
		}
		if _, err := ParseClientHello(msg[:handshakeHeaderLen+i]); err == nil {
			t.Errorf("header longer than body cut at %d: no error", i)
		}
	}
}

func TestParseClientHelloRejectsMalformedExtensions(t *testing.T) {
	for name, ext := range map[string][]byte{
		"odd groups":         testExt(extSupportedGroups, vec16([]byte{0, 29, 0})),
		"groups overrun":     testExt(extSupportedGroups, []byte{0, 8, 0, 29}),
		"trailing bytes":     testExt(extSignatureAlgorithms, append(vec16(u16s(0x0403)), 0)),
		"ALPN overrun":       testExt(extALPN, vec16([]byte{5, 'h', '2'})),
		"server name":        testExt(extServerName, vec16([]byte{0, 0, 9, 'a'})),
		"versions odd":       testExt(extSupportedVersions, vec8([]byte{3, 4, 3})),
		"points overrun":     testExt(extECPointFormats, []byte{4, 0}),
		"extension overruns": {0, 0x23, 0, 4, 0},
	} {
		if _, err := ParseClientHello(testHello(0x0303, []uint16{0x1301}, ext)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// --- HTTP/2 capture and the Akamai fingerprint ---

// h2Client writes a client's connection preamble with x/net's framer.
type h2Client struct {
	buf bytes.Buffer
	fr  *http2.Framer
}

func newH2Client() *h2Client {
	c := &h2Client{}
	c.buf.WriteString(h2ClientPreface)
	c.fr = http2.NewFramer(&c.buf, nil)
	return c
}

func (c *h2Client) settings(pairs ...uint32) *h2Client {
	var s []http2.Setting
	for i := 0; i < len(pairs); i += 2 {
		s = append(s, http2.Setting{ID: http2.SettingID(pairs[i]), Val: pairs[i+1]})
	}
	_ = c.fr.WriteSettings(s...)
	return c
}

// headers writes a header block split over a HEADERS frame and
// CONTINUATION frames of at most chunk bytes.
func (c *h2Client) headers(stream uint32, prio http2.PriorityParam, chunk int, fields ...string) *h2Client {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	b := block.Bytes()
	first := b[:min(chunk, len(b))]
	b = b[len(first):]
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: first,
		EndStream: true, EndHeaders: len(b) == 0, Priority: prio, PadLength: 3})
	for len(b) > 0 {
		n := min(chunk, len(b))
		_ = c.fr.WriteContinuation(stream, n == len(b), b[:n])
		b = b[n:]
	}
	return c
}

// capture feeds the client's bytes to an H2Capture in pieces of size n.
func (c *h2Client) capture(n int) *H2Capture {
	h := &H2Capture{}
	for b := c.buf.Bytes(); len(b) > 0; {
		k := min(n, len(b))
		h.Feed(b[:k])
		b = b[k:]
	}
	return h
}

var requestFields = map[string]string{
	":method": "GET", ":authority": "localhost", ":scheme": "https", ":path": "/",
	"user-agent": "test", "accept": "*/*",
}

// fieldsInOrder lists the names and values of requestFields in the order of names.
func fieldsInOrder(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n, requestFields[n])
	}
	return out
}

func TestAkamaiPublishedFingerprints(t *testing.T) {
	noPriority := http2.PriorityParam{}
	for _, tc := range []struct {
		name   string
		client *h2Client
		want   string
		prio   *H2Priority
	}{
		{"Chrome",
			newH2Client().settings(1, 65536, 2, 0, 4, 6291456, 6, 262144).
				window(0, 15663105).
				headers(1, http2.PriorityParam{Exclusive: true, Weight: 255}, 10,
					fieldsInOrder(":method", ":authority", ":scheme", ":path", "user-agent", "accept")...),
			"1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p",
			&H2Priority{StreamID: 1, Exclusive: true, DependsOn: 0, Weight: 256}},
		{"Firefox",
			newH2Client().settings(1, 65536, 2, 0, 4, 131072, 5, 16384).
				window(0, 12517377).
				headers(1, http2.PriorityParam{StreamDep: 0, Weight: 41}, 1000,
					fieldsInOrder(":method", ":path", ":authority", ":scheme", "user-agent")...),
			"1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s",
			&H2Priority{StreamID: 1, DependsOn: 0, Weight: 42}},
		{"Safari",
			newH2Client().settings(2, 0, 3, 100, 4, 2097152, 9, 1).
				window(0, 10420225).
				headers(1, noPriority, 4, fieldsInOrder(":method", ":scheme", ":authority", ":path", "accept")...),
			"2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p", nil},
		{"older Firefox with PRIORITY frames",
			newH2Client().settings(1, 65536, 4, 131072, 5, 16384).
				window(0, 12517377).
				priority(3, 0, false, 200).priority(5, 0, false, 100).priority(7, 0, false, 0).
				priority(9, 7, false, 0).priority(11, 3, false, 0).priority(13, 0, false, 240).
				headers(1, http2.PriorityParam{StreamDep: 13, Weight: 41}, 1000,
					fieldsInOrder(":method", ":path", ":authority", ":scheme")...),
			"1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1,13:0:0:241|m,p,a,s",
			&H2Priority{StreamID: 1, DependsOn: 13, Weight: 42}},
		{"no WINDOW_UPDATE, stream WINDOW_UPDATE and SETTINGS ACK ignored",
			newH2Client().settings(3, 1000).window(1, 5).ack().settings(4, 1).
				headers(1, noPriority, 1000, fieldsInOrder(":method", ":path")...),
			"3:1000|00|0|m,p", nil},
	} {
		for _, piece := range []int{1, 5, 1 << 20} {
			c := tc.client.capture(piece)
			pre, err := c.Preamble()
			if err != nil {
				t.Fatalf("%s in pieces of %d: %v", tc.name, piece, err)
			}
			if got := pre.Akamai(); got != tc.want {
				t.Errorf("%s in pieces of %d:\n got %s\nwant %s", tc.name, piece, got, tc.want)
			}
			if !reflect.DeepEqual(pre.HeadersPriority, tc.prio) {
				t.Errorf("%s: HEADERS priority %+v, want %+v", tc.name, pre.HeadersPriority, tc.prio)
			}
		}
	}
}

func (c *h2Client) window(stream, incr uint32) *h2Client {
	_ = c.fr.WriteWindowUpdate(stream, incr)
	return c
}

func (c *h2Client) priority(stream, dep uint32, exclusive bool, weight uint8) *h2Client {
	_ = c.fr.WritePriority(stream, http2.PriorityParam{StreamDep: dep, Exclusive: exclusive, Weight: weight})
	return c
}

func (c *h2Client) ack() *h2Client {
	_ = c.fr.WriteSettingsAck()
	return c
}

func TestH2CaptureKeepsFirstHeaderBlockOnly(t *testing.T) {
	c := newH2Client().settings(1, 4096).
		headers(1, http2.PriorityParam{}, 3, ":method", "GET", ":path", "/a", "X-Mixed", "v", "cookie", "a=1", "cookie", "b=2").
		window(0, 99).
		headers(3, http2.PriorityParam{}, 1000, ":method", "POST", ":path", "/b")
	h := c.capture(7)
	pre, err := h.Preamble()
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{":method", "GET"}, {":path", "/a"}, {"X-Mixed", "v"}, {"cookie", "a=1"}, {"cookie", "b=2"}}
	if !reflect.DeepEqual(pre.Headers, want) {
		t.Errorf("headers %q, want %q", pre.Headers, want)
	}
	if got := pre.Akamai(); got != "1:4096|00|0|m,p" {
		t.Errorf("akamai %s: later frames counted", got)
	}
	if len(h.pending) != 0 {
		t.Errorf("%d bytes kept after the capture ended", len(h.pending))
	}
}

func TestH2CaptureErrors(t *testing.T) {
	interrupted := newH2Client().settings()
	_ = interrupted.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
	interrupted.window(0, 1)

	incomplete := newH2Client().settings()

	flood := newH2Client()
	for range 200 {
		_ = flood.fr.WriteData(1, false, make([]byte, 8000))
	}

	badHPACK := newH2Client()
	_ = badHPACK.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff}, EndHeaders: true})

	notH2 := &h2Client{}
	notH2.buf.WriteString("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

	for name, c := range map[string]*h2Client{
		"interrupted block": interrupted, "no HEADERS yet": incomplete, "over 1 MiB": flood,
		"bad HPACK": badHPACK, "no preface": notH2,
	} {
		if _, err := c.capture(4096).Preamble(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
