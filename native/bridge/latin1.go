package bridge

import (
	"fmt"
	"unicode/utf8"
)

// Header bytes need not be UTF-8 (a Latin-1 Location target, a cookie in a
// legacy charset), but the ABI is JSON, whose strings are UTF-8, and
// encoding/json turns every byte that is not into U+FFFD. With
// latin1Headers, header values cross the ABI as Latin-1 text instead: each
// byte is the code point of the same number, which JSON carries exactly,
// both ways.

// latin1Text is b's bytes as code points U+0000-U+00FF.
func latin1Text(b string) string {
	ascii := true
	for i := 0; i < len(b) && ascii; i++ {
		ascii = b[i] < utf8.RuneSelf
	}
	if ascii {
		return b // most values: nothing to convert
	}
	runes := make([]rune, len(b))
	for i := 0; i < len(b); i++ {
		runes[i] = rune(b[i])
	}
	return string(runes)
}

// latin1Bytes undoes latin1Text; a code point above U+00FF is refused,
// since no byte stands for it.
func latin1Bytes(field, text string) (string, error) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if r > 0xff {
			return "", newError(CodeInvalidInput, fmt.Sprintf("%s: %q is not Latin-1 text (latin1Headers): code point %U has no byte", field, text, r))
		}
		out = append(out, byte(r))
	}
	return string(out), nil
}

// latin1Pairs is a headersList with its values back as bytes (a copy: the
// input may be read again).
func latin1Pairs(pairs [][2]string) ([][2]string, error) {
	out := make([][2]string, len(pairs))
	for i, pair := range pairs {
		value, err := latin1Bytes(fmt.Sprintf("headersList[%d]", i), pair[1])
		if err != nil {
			return nil, err
		}
		out[i] = [2]string{pair[0], value}
	}
	return out, nil
}

// latin1Header is h with every value as Latin-1 text: h itself when all
// values are ASCII, as nearly all are (no copy per response).
func latin1Header(h map[string][]string) map[string][]string {
	if allASCII(h) {
		return h
	}
	out := make(map[string][]string, len(h))
	for name, values := range h {
		converted := make([]string, len(values))
		for i, v := range values {
			converted[i] = latin1Text(v)
		}
		out[name] = converted
	}
	return out
}

func allASCII(h map[string][]string) bool {
	for _, values := range h {
		for _, v := range values {
			for i := 0; i < len(v); i++ {
				if v[i] >= utf8.RuneSelf {
					return false
				}
			}
		}
	}
	return true
}
