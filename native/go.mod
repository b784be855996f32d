module github.com/scrapy-tlsclient/native

go 1.24.1

replace github.com/bogdanfinn/quic-go-utls => github.com/bogdanfinn/quic-go-utls v1.0.9-utls

replace github.com/bogdanfinn/websocket => ./third_party/websocket

require (
	github.com/bogdanfinn/fhttp v0.6.9
	github.com/bogdanfinn/tls-client v1.16.0
	github.com/bogdanfinn/utls v1.7.8-barnius
	github.com/bogdanfinn/websocket v1.5.6-barnius
	golang.org/x/net v0.48.0
	golang.org/x/sys v0.39.0
)

require (
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/bdandy/go-errors v1.2.2 // indirect
	github.com/bdandy/go-socks4 v1.2.3 // indirect
	github.com/bogdanfinn/quic-go-utls v1.0.10-utls // indirect
	github.com/cloudflare/circl v1.6.2 // indirect
	github.com/klauspost/compress v1.18.2 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	github.com/tam7t/hpkp v0.0.0-20160821193359-2b70b4024ed5 // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/text v0.32.0 // indirect
)

replace github.com/bogdanfinn/fhttp => ./third_party/fhttp
