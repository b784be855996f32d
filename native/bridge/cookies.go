package bridge

import (
	"time"

	http "github.com/bogdanfinn/fhttp"
)

func (c Cookie) toHTTP() *http.Cookie {
	out := &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain,
		MaxAge: c.MaxAge, Secure: c.Secure, HttpOnly: c.HTTPOnly}
	if c.Expires != 0 {
		out.Expires = time.Unix(c.Expires, 0)
	}
	return out
}

func cookieFromHTTP(c *http.Cookie) Cookie {
	out := Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain,
		MaxAge: c.MaxAge, Secure: c.Secure, HTTPOnly: c.HttpOnly}
	if !c.Expires.IsZero() {
		out.Expires = c.Expires.Unix()
	}
	return out
}
