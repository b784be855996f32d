package bridge

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Error codes carried in errorCode (extension). The Python side maps these
// to Scrapy's exceptions; the text stays upstream's for compatibility.
const (
	CodeTimeout           = "timeout"
	CodeConnectionRefused = "connection_refused"
	CodeDNS               = "dns"
	CodeTLS               = "tls"
	CodeDataLoss          = "dataloss"
	CodeConnectionLost    = "connection_lost"
	CodeInvalidURL        = "invalid_url"
	CodeUnsupportedScheme = "unsupported_scheme"
	CodeInvalidInput      = "invalid_input"
	CodeUnknownProfile    = "unknown_profile"
	CodeCancelled         = "cancelled"
	CodeProxy             = "proxy"
	CodeProtocol          = "protocol"
	CodeFile              = "file"
	CodeDecoding          = "decoding"
	CodeUnknownStream     = "unknown_stream"
	CodeUnknownSession    = "unknown_session"
	CodeInternal          = "internal"
	CodeOther             = "other"
)

// codedError is an error the bridge raised itself, with a known code.
type codedError struct {
	code string
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func newError(code, msg string) error { return &codedError{code: code, msg: msg} }

// errCancelled marks a call aborted by cancelStream or destroyAll.
var errCancelled = errors.New("request cancelled")

// errorCode classifies err: typed checks first, then upstream's message
// shapes, because fhttp and the proxy dialers often flatten errors to text.
func errorCode(err error) string {
	var coded *codedError
	if errors.As(err, &coded) {
		return coded.code
	}
	if errors.Is(err, errCancelled) {
		return CodeCancelled
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return CodeTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return CodeTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return CodeDNS
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return CodeConnectionRefused
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return CodeDataLoss
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalidCert) {
		return CodeTLS
	}
	return classifyMessage(err.Error())
}

// messageCodes is ordered: the first matching fragment wins.
var messageCodes = []struct{ fragment, code string }{
	{"request cancelled", CodeCancelled},
	{"context canceled", CodeCancelled},
	{"Client.Timeout", CodeTimeout},
	{"i/o timeout", CodeTimeout},
	{"deadline exceeded", CodeTimeout},
	{"connection refused", CodeConnectionRefused},
	{"no such host", CodeDNS},
	{"dial tcp: lookup", CodeDNS},
	{"invalid URL scheme", CodeUnsupportedScheme},
	{"unsupported protocol scheme", CodeUnsupportedScheme},
	{"failed to create request object", CodeInvalidURL},
	{"Proxy responded with non 200", CodeProxy},
	{"proxyconnect", CodeProxy},
	{"socks connect", CodeProxy},
	{"x509:", CodeTLS},
	{"tls:", CodeTLS},
	{"bad ssl pin", CodeTLS},
	{"unexpected EOF", CodeDataLoss},
	// A body's chunked framing broken after the head (fhttp's
	// internal/chunked.go): what arrived before is good, the rest lost.
	{"malformed chunked encoding", CodeDataLoss},
	{"invalid byte in chunk length", CodeDataLoss},
	{"http chunk length too large", CodeDataLoss},
	{"stream error", CodeDataLoss},
	{"connection reset", CodeConnectionLost},
	{"broken pipe", CodeConnectionLost},
	{": EOF", CodeConnectionLost},
	{"server sent GOAWAY", CodeConnectionLost},
	{"malformed HTTP", CodeProtocol},
	{"gzip:", CodeDecoding},
	{"flate:", CodeDecoding},
	{"zlib:", CodeDecoding},
	{"brotli", CodeDecoding},
	{"zstd", CodeDecoding},
}

func classifyMessage(msg string) string {
	for _, m := range messageCodes {
		if strings.Contains(msg, m.fragment) {
			return m.code
		}
	}
	if msg == "EOF" {
		return CodeConnectionLost
	}
	return CodeOther
}
