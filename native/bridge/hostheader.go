package bridge

import (
	http "github.com/bogdanfinn/fhttp"
)

// placeHost puts Host where a headersList request sends it over HTTP/1.1.
// fhttp writes Host through the header map, in the map's header order,
// and adds a canonical "Host" itself unless the map has a "Host" or "host"
// key; a Host missing from the order goes last, where no browser sends it.
// So Host, valued host (the request's Host), enters the map under the
// list's spelling, which keeps its place in order; a list without Host gets
// it first, as browsers send it. Spellings other than "Host" and "host"
// become "Host": fhttp would not see them and would send a second Host.
// HTTP/2 is unaffected: it sends the request's Host as :authority and
// drops any Host field.
func placeHost(header http.Header, order []string, name, host string) []string {
	if name == "" {
		return append([]string{"host"}, order...)
	}
	if name != "host" {
		name = "Host"
	}
	header[name] = []string{host}
	return order
}
