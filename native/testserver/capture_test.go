package testserver

import (
	"reflect"
	"testing"
)

func TestParseHead(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		line   string
		fields [][2]string
		n      int // bytes consumed; 0 when parsing must fail
	}{
		{"crlf", "GET / HTTP/1.1\r\nHost: a\r\nX-B: 2\r\n\r\nbody", "GET / HTTP/1.1", [][2]string{{"Host", "a"}, {"X-B", "2"}}, 35},
		{"lf", "GET / HTTP/1.1\nx: 1\n\nnext", "GET / HTTP/1.1", [][2]string{{"x", "1"}}, 21},
		{"no fields", "GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0", [][2]string{}, 18},
		{"value whitespace", "GET / HTTP/1.1\r\nA:\t v : w \t\r\nB:\r\n\r\n", "GET / HTTP/1.1", [][2]string{{"A", "v : w"}, {"B", ""}}, 35},
		{"folding", "GET / HTTP/1.1\r\nA: x\r\n \t y\r\n\r\n", "GET / HTTP/1.1", [][2]string{{"A", "x y"}}, 30},
		{"incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", "", nil, 0},
		{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", "", nil, 0},
		{"fold first", "GET / HTTP/1.1\r\n x\r\n\r\n", "", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line, fields, n, ok := parseHead([]byte(tc.in))
			if ok != (tc.n > 0) || line != tc.line || n != tc.n || !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("parseHead = %q, %q, %d, %v; want %q, %q, %d", line, fields, n, ok, tc.line, tc.fields, tc.n)
			}
		})
	}
}

func TestChunkedBodyLen(t *testing.T) {
	cases := []struct {
		in string
		n  int // 0 when the body is incomplete or malformed
	}{
		{"0\r\n\r\nGET", 5},
		{"3\r\nabc\r\n0\r\n\r\n", 13},
		{"A;x=y\r\n0123456789\r\n0 \r\nT: 1\r\n\r\nrest", 31},
		{"3\r\nabc\r\n", 0},
		{"3\r\nabcd\r\n0\r\n\r\n", 0},
		{"zz\r\n", 0},
		{"0\r\nT: 1\r\n", 0},
	}
	for _, tc := range cases {
		n, ok := chunkedBodyLen([]byte(tc.in))
		if ok != (tc.n > 0) || n != tc.n {
			t.Errorf("chunkedBodyLen(%q) = %d, %v; want %d", tc.in, n, ok, tc.n)
		}
	}
}
