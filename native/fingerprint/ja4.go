package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// JA4 follows the FoxIO specification (github.com/FoxIO-LLC/ja4,
// technical_details/JA4.md): a readable part a, then b, a hash of the
// sorted cipher suites, then c, a hash of the sorted extensions (SNI and
// ALPN left out) followed by the signature algorithms in wire order. The
// raw form (ja4_r) shows the lists instead of their hashes; the "original"
// forms (ja4_o, ja4_ro) keep the wire order and SNI and ALPN.

type JA4Result struct {
	JA4, JA4R, JA4O, JA4RO string
}

// emptyJA4Hash stands for an empty list, so that it is told apart from the
// hash of something.
const emptyJA4Hash = "000000000000"

func JA4Of(h *ClientHello) JA4Result {
	a := ja4A(h)
	ciphers := withoutGREASE(h.CipherSuites)
	exts := withoutGREASE(h.Extensions)
	sigs := hexList(withoutGREASE(h.SignatureAlgorithms))

	sortedCiphers := slices.Sorted(slices.Values(ciphers))
	var sortedExts []uint16
	for _, e := range slices.Sorted(slices.Values(exts)) {
		if e != extServerName && e != extALPN {
			sortedExts = append(sortedExts, e)
		}
	}

	b, bo := hexList(sortedCiphers), hexList(ciphers)
	c, co := ja4C(hexList(sortedExts), sigs), ja4C(hexList(exts), sigs)
	return JA4Result{
		JA4:   a + "_" + ja4Hash(b) + "_" + ja4Hash(c),
		JA4R:  a + "_" + b + "_" + c,
		JA4O:  a + "_" + ja4Hash(bo) + "_" + ja4Hash(co),
		JA4RO: a + "_" + bo + "_" + co,
	}
}

// ja4A is the readable part: protocol, TLS version, SNI or not, counts of
// cipher suites and extensions, and the ALPN marker, like "t13d1516h2".
func ja4A(h *ClientHello) string {
	sni := "i"
	if h.HasSNI {
		sni = "d"
	}
	firstALPN := ""
	if len(h.ALPN) > 0 {
		firstALPN = h.ALPN[0]
	}
	return fmt.Sprintf("t%s%s%02d%02d%s", ja4Version(h), sni,
		min(len(withoutGREASE(h.CipherSuites)), 99),
		min(len(withoutGREASE(h.Extensions)), 99),
		ja4ALPN(firstALPN))
}

// ja4Version is the highest version of supported_versions, or the legacy
// version of a hello without that extension.
func ja4Version(h *ClientHello) string {
	v := h.LegacyVersion
	if versions := withoutGREASE(h.SupportedVersions); len(versions) > 0 {
		v = slices.Max(versions)
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// ja4ALPN is the first and last character of the first ALPN value, "00"
// without one. When either of those bytes is not an ASCII letter or digit,
// the first and last characters of the value's hex form stand in.
func ja4ALPN(first string) string {
	if first == "" {
		return "00"
	}
	head, tail := first[0], first[len(first)-1]
	if !isASCIIAlnum(head) || !isASCIIAlnum(tail) {
		x := hex.EncodeToString([]byte(first))
		return x[:1] + x[len(x)-1:]
	}
	return string([]byte{head, tail})
}

func isASCIIAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// ja4C is the input of the c hash: extensions, then "_" and the signature
// algorithms if there are any. Without extensions it is empty, which
// hashes to emptyJA4Hash.
func ja4C(exts, sigs string) string {
	if exts == "" || sigs == "" {
		return exts
	}
	return exts + "_" + sigs
}

// hexList writes vs as 4-digit lower-case hex joined by commas.
func hexList(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

// ja4Hash is the first 12 hex digits of the SHA-256 of s.
func ja4Hash(s string) string {
	if s == "" {
		return emptyJA4Hash
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}
