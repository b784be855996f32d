// Package bridge is the JSON-in, JSON-out core of the project's tls-client
// library: every C export in cmd/libtlsclient is a thin wrapper around one
// function here, so all behaviour is testable with plain `go test`.
//
// The JSON shapes are those of upstream tls-client's cffi (RequestInput,
// Response) plus the streaming ABI of upstream PR #247 and this project's
// documented extensions (docs/abi.rst).
package bridge

import "encoding/json"

// RequestInput mirrors upstream cffi_src.RequestInput's JSON tags; fields
// after the marker are this project's extensions.
type RequestInput struct {
	RequestURL          string              `json:"requestUrl"`
	RequestMethod       string              `json:"requestMethod"`
	RequestBody         *string             `json:"requestBody"`
	IsByteRequest       bool                `json:"isByteRequest"`
	IsByteResponse      bool                `json:"isByteResponse"`
	Headers             map[string]string   `json:"headers"`
	HeaderOrder         []string            `json:"headerOrder"`
	DefaultHeaders      map[string][]string `json:"defaultHeaders"`
	ConnectHeaders      map[string][]string `json:"connectHeaders"`
	RequestHostOverride *string             `json:"requestHostOverride"`
	RequestCookies      []Cookie            `json:"requestCookies"`
	SessionID           *string             `json:"sessionId"`

	TLSClientIdentifier         string              `json:"tlsClientIdentifier"`
	CustomTLSClient             *CustomTLSClient    `json:"customTlsClient"`
	TransportOptions            *TransportOptions   `json:"transportOptions"`
	ProxyURL                    *string             `json:"proxyUrl"`
	IsRotatingProxy             bool                `json:"isRotatingProxy"`
	LocalAddress                *string             `json:"localAddress"`
	ServerNameOverwrite         *string             `json:"serverNameOverwrite"`
	CertificatePinningHosts     map[string][]string `json:"certificatePinningHosts"`
	TimeoutSeconds              int                 `json:"timeoutSeconds"`
	TimeoutMilliseconds         int                 `json:"timeoutMilliseconds"`
	FollowRedirects             bool                `json:"followRedirects"`
	ForceHTTP1                  bool                `json:"forceHttp1"`
	DisableHTTP3                bool                `json:"disableHttp3"`
	WithProtocolRacing          bool                `json:"withProtocolRacing"`
	InsecureSkipVerify          bool                `json:"insecureSkipVerify"`
	DisableIPV6                 bool                `json:"disableIPV6"`
	DisableIPV4                 bool                `json:"disableIPV4"`
	WithoutCookieJar            bool                `json:"withoutCookieJar"`
	WithCustomCookieJar         bool                `json:"withCustomCookieJar"`
	WithDebug                   bool                `json:"withDebug"`
	CatchPanics                 bool                `json:"catchPanics"`
	WithRandomTLSExtensionOrder bool                `json:"withRandomTLSExtensionOrder"`
	StreamOutputPath            *string             `json:"streamOutputPath"`
	StreamOutputBlockSize       *int                `json:"streamOutputBlockSize"`
	StreamOutputEOFSymbol       *string             `json:"streamOutputEOFSymbol"`

	// --- project extensions (docs/abi.rst) ---

	// HeadersList replaces headers+headerOrder: ordered [name, value] pairs,
	// names sent with the case given, a name may repeat.
	HeadersList [][2]string `json:"headersList"`
	// Latin1Headers: header values cross as Latin-1 text, each byte the
	// code point of its number, so bytes that are not UTF-8 arrive as sent
	// (latin1.go); for headersList and the response's headers.
	Latin1Headers bool `json:"latin1Headers"`
	// HTTP2OnlyHeaders names headers of headersList to leave out when the
	// request goes over HTTP/1.1, as the browser the caller imitates does.
	HTTP2OnlyHeaders []string `json:"http2OnlyHeaders"`
	// RawBody returns the body exactly as received: no decompression, and
	// Content-Encoding / Content-Length kept.
	RawBody bool `json:"rawBody"`
	// StreamID lets the caller name a call before it starts, so that
	// cancelStream can abort it while it still waits for headers.
	StreamID string `json:"streamId"`
	// WithPeerCertificate adds the leaf certificate (DER, base64) to the
	// envelope's tls object.
	WithPeerCertificate bool `json:"withPeerCertificate"`
	// StreamBufferChunks bounds the per-stream buffer (default 16 chunks of
	// streamOutputBlockSize bytes).
	StreamBufferChunks int `json:"streamBufferChunks"`
	// PrefetchBytes makes requestStream also wait for the first body bytes
	// (up to this many, or the end of the body) for at most
	// PrefetchTimeoutMs, and return them in the envelope: a small response
	// then costs one call instead of three.
	PrefetchBytes     int `json:"prefetchBytes"`
	PrefetchTimeoutMs int `json:"prefetchTimeoutMs"`
	// BinaryBody hands the body (request, readStreamAll, or the prefetched
	// part of requestStream) out as a buffer named by bodyBuffer instead of
	// base64 in body: see bufferRegistry.
	BinaryBody bool `json:"binaryBody"`
	// BinaryMin (with BinaryBody): a prefetched body shorter than this
	// many bytes comes in body after all, as without BinaryBody: for a
	// small page, taking and freeing a buffer costs two more calls.
	BinaryMin int `json:"binaryMin"`
	// SSLKeyLogFile is where the client appends its TLS key lines (NSS key
	// log format): absent, $SSLKEYLOGFILE as the process had it when the
	// library loaded; "", nowhere. A caller that reads the variable itself
	// later (Scrapy's handlers read it when they are created) passes it
	// here. See keylog.go.
	SSLKeyLogFile *string `json:"sslKeyLogFile"`

	// rawRequestBody is the request body given beside the JSON, as raw
	// bytes (a completion socket's submission frame); it replaces
	// requestBody.
	rawRequestBody []byte
}

// Cookie is upstream's cookie JSON shape; expires is unix seconds.
type Cookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path"`
	Domain   string `json:"domain"`
	Expires  int64  `json:"expires"`
	MaxAge   int    `json:"maxAge"`
	Secure   bool   `json:"secure"`
	HTTPOnly bool   `json:"httpOnly"`
}

// TransportOptions mirrors upstream's cffi transport options.
type TransportOptions struct {
	IdleConnTimeout        *int64 `json:"idleConnTimeout"` // nanoseconds, as upstream
	MaxIdleConns           int    `json:"maxIdleConns"`
	MaxIdleConnsPerHost    int    `json:"maxIdleConnsPerHost"`
	MaxConnsPerHost        int    `json:"maxConnsPerHost"`
	MaxResponseHeaderBytes int64  `json:"maxResponseHeaderBytes"`
	WriteBufferSize        int    `json:"writeBufferSize"`
	ReadBufferSize         int    `json:"readBufferSize"`
	DisableKeepAlives      bool   `json:"disableKeepAlives"`
	DisableCompression     bool   `json:"disableCompression"`
}

// CustomTLSClient mirrors upstream's custom TLS specification.
type CustomTLSClient struct {
	JA3String                               string            `json:"ja3String"`
	H2Settings                              map[string]uint32 `json:"h2Settings"`
	H2SettingsOrder                         []string          `json:"h2SettingsOrder"`
	H3Settings                              map[string]uint64 `json:"h3Settings"`
	H3SettingsOrder                         []string          `json:"h3SettingsOrder"`
	H3PseudoHeaderOrder                     []string          `json:"h3PseudoHeaderOrder"`
	H3PriorityParam                         uint32            `json:"h3PriorityParam"`
	H3SendGreaseFrames                      bool              `json:"h3SendGreaseFrames"`
	HeaderPriority                          *PriorityParam    `json:"headerPriority"`
	PriorityFrames                          []PriorityFrame   `json:"priorityFrames"`
	PseudoHeaderOrder                       []string          `json:"pseudoHeaderOrder"`
	ConnectionFlow                          uint32            `json:"connectionFlow"`
	CertCompressionAlgos                    []string          `json:"certCompressionAlgos"`
	KeyShareCurves                          []string          `json:"keyShareCurves"`
	ALPNProtocols                           []string          `json:"alpnProtocols"`
	ALPSProtocols                           []string          `json:"alpsProtocols"`
	ECHCandidatePayloads                    []uint16          `json:"ECHCandidatePayloads"`
	ECHCandidateCipherSuites                []ECHCipherSuite  `json:"ECHCandidateCipherSuites"`
	SupportedDelegatedCredentialsAlgorithms []string          `json:"supportedDelegatedCredentialsAlgorithms"`
	SupportedSignatureAlgorithms            []string          `json:"supportedSignatureAlgorithms"`
	SupportedVersions                       []string          `json:"supportedVersions"`
	RecordSizeLimit                         uint16            `json:"recordSizeLimit"`
	StreamID                                uint32            `json:"streamId"`
	AllowHTTP                               bool              `json:"allowHttp"`
}

// PriorityParam is an HTTP/2 priority.
type PriorityParam struct {
	StreamDep uint32 `json:"streamDep"`
	Exclusive bool   `json:"exclusive"`
	Weight    uint8  `json:"weight"`
}

// PriorityFrame is an HTTP/2 PRIORITY frame sent after the preface.
type PriorityFrame struct {
	StreamID      uint32        `json:"streamID"`
	PriorityParam PriorityParam `json:"priorityParam"`
}

// ECHCipherSuite is one ECH candidate cipher suite.
type ECHCipherSuite struct {
	KdfID  string `json:"kdfId"`
	AeadID string `json:"aeadId"`
}

// Response is upstream's response envelope plus the project's extensions.
type Response struct {
	ID           string              `json:"id"`
	SessionID    string              `json:"sessionId,omitempty"`
	Status       int                 `json:"status"`
	Target       string              `json:"target"`
	Body         string              `json:"body"`
	Headers      map[string][]string `json:"headers"`
	Cookies      map[string]string   `json:"cookies"`
	UsedProtocol string              `json:"usedProtocol"`

	// --- project extensions ---
	StreamID      string   `json:"streamId,omitempty"`
	ErrorCode     string   `json:"errorCode,omitempty"`
	RemoteAddress string   `json:"remoteAddress,omitempty"`
	TLS           *TLSInfo `json:"tls,omitempty"`
	DebugLog      []string `json:"debugLog,omitempty"`
	// BodyBytes counts the body bytes received (written to file, for
	// streamOutputPath).
	BodyBytes int64 `json:"bodyBytes"`
	// For requestStream with prefetchBytes: the body ended within the
	// prefetch (eof), or failed after the prefetched part (bodyError).
	EOF           bool   `json:"eof,omitempty"`
	BodyError     string `json:"bodyError,omitempty"`
	BodyErrorCode string `json:"bodyErrorCode,omitempty"`
	// With binaryBody and a non-empty body: the handle of the buffer that
	// holds it (body is then empty).
	BodyBuffer string `json:"bodyBuffer,omitempty"`
	// CloseDelimited: an HTTP/1.x body with neither Content-Length nor
	// chunked framing, which ends when the server closes the connection,
	// so its end cannot be told from a cut (Scrapy flags it "partial").
	CloseDelimited bool `json:"closeDelimited,omitempty"`
}

// TLSInfo describes the negotiated TLS connection.
type TLSInfo struct {
	Version            string `json:"version"`
	CipherSuite        string `json:"cipherSuite"`
	NegotiatedProtocol string `json:"negotiatedProtocol"`
	ServerName         string `json:"serverName"`
	PeerCertificate    string `json:"peerCertificate,omitempty"` // DER, base64
}

// StreamChunk is readStream's answer: exactly one of Chunk (or, with
// binary, ChunkBuffer), EOF, Timeout or Error is set.
type StreamChunk struct {
	ID        string `json:"id"`
	StreamID  string `json:"streamId"`
	Chunk     string `json:"chunk"`
	EOF       bool   `json:"eof"`
	Timeout   bool   `json:"timeout"`
	Error     string `json:"error,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
	// With binary: the handle of the buffer holding the chunk, and its size.
	ChunkBuffer string `json:"chunkBuffer,omitempty"`
	ChunkLength int    `json:"chunkLength,omitempty"`
	// With outputPath: the bytes this read appended to the file; with
	// intoLength, the bytes it copied into the caller's memory.
	Written int `json:"written,omitempty"`
}

type readStreamInput struct {
	StreamID  string `json:"streamId"`
	TimeoutMs int    `json:"timeoutMs"`
	// MaxBytes (extension) lets one call return several buffered chunks
	// joined, up to this many bytes; 0 means one chunk.
	MaxBytes int `json:"maxBytes"`
	// Binary (extension) hands the chunk out as a buffer (ChunkBuffer)
	// instead of base64 in Chunk.
	Binary bool `json:"binary"`
	// BinaryMin (extension, with Binary): a chunk shorter than this many
	// bytes comes inline as base64 in Chunk after all. For the small
	// chunks of a live stream (an event or a line each) the two calls that
	// take and free a buffer cost more than base64 does.
	BinaryMin int `json:"binaryMin"`
	// OutputPath (extension) appends the chunk to this existing file
	// instead of returning it (StreamChunk.Written): see streamOutput.
	OutputPath string `json:"outputPath"`
	// IntoAddress and IntoLength (extension) copy the body into that
	// memory, which the caller lends until the answer, instead of returning
	// it (StreamChunk.Written): see fillMemory.
	IntoAddress uintptr `json:"intoAddress"`
	IntoLength  int     `json:"intoLength"`
}

type streamIDInput struct {
	StreamID string `json:"streamId"`
}

type sessionInput struct {
	SessionID string `json:"sessionId"`
}

type cookiesInput struct {
	SessionID string   `json:"sessionId"`
	URL       string   `json:"url"`
	Cookies   []Cookie `json:"cookies"`
}

type successOutput struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
}

type cookiesOutput struct {
	ID      string   `json:"id"`
	Cookies []Cookie `json:"cookies"`
}

func marshal(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		// Every envelope type marshals; this guards against a future field
		// that does not, without handing C an unparsable string.
		out, _ = json.Marshal(Response{Body: "failed to encode envelope: " + err.Error(), ErrorCode: CodeInternal})
	}
	return out
}
