package fingerprint

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// JA3 (github.com/salesforce/ja3) is
//
//	SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats
//
// with decimal values joined by "-", GREASE left out, and its MD5. JA3N is
// the same with the extensions sorted, which makes it stable against the
// extension order shuffling of Chrome 110 and later.

// isGREASE reports whether v is one of the reserved GREASE values of RFC
// 8701: 0x0a0a, 0x1a1a, ..., 0xfafa.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// withoutGREASE returns vs without its GREASE values, in the same order.
func withoutGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// JA3String returns the JA3 string of h, or the JA3N string if
// sortExtensions is set.
func JA3String(h *ClientHello, sortExtensions bool) string {
	exts := withoutGREASE(h.Extensions)
	if sortExtensions {
		slices.Sort(exts)
	}
	points := make([]uint16, len(h.PointFormats))
	for i, p := range h.PointFormats {
		points[i] = uint16(p)
	}
	return strings.Join([]string{
		strconv.Itoa(int(h.LegacyVersion)),
		decimalList(withoutGREASE(h.CipherSuites)),
		decimalList(exts),
		decimalList(withoutGREASE(h.SupportedGroups)),
		decimalList(points),
	}, ",")
}

func decimalList(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, "-")
}

func MD5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
