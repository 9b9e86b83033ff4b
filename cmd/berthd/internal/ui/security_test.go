package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The checks below run before any handler: the server needs no engine
// (its routes are never reached, or are the events page, which calls
// none).
func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(Backend{}, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	c := &http.Client{CheckRedirect: noRedirect}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	s, ts := newTestServer(t)
	res := do(t, mustReq(t, "GET", ts.URL+"/login?token=wrong", nil))
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res = do(t, mustReq(t, "GET", ts.URL+"/login?token="+s.Token(), nil))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	cs := res.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Value == s.Token() {
		t.Fatalf("cookie %+v: want one HttpOnly SameSite=Strict session cookie that is not the token", cs)
	}
}

func TestRequestsWithoutTheCookieAreRefused(t *testing.T) {
	_, ts := newTestServer(t)
	for _, p := range []string{"/", "/events", "/live/containers", "/live/events", "/ws/containers/x/exec", "/containers/x/file?path=/etc/shadow"} {
		res := do(t, mustReq(t, "GET", ts.URL+p, nil))
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the cookie: %d, want 401", p, res.StatusCode)
		}
	}
	req := mustReq(t, "GET", ts.URL+"/events", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: "tok"}) // the token is not the session
	if res := do(t, req); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the login token as cookie: %d, want 401", res.StatusCode)
	}
}

func TestForeignHostIsRefused(t *testing.T) {
	s, ts := newTestServer(t)
	req := s.authed(t, "GET", ts.URL+"/events")
	req.Host = "attacker.example:80" // DNS rebinding: their name, our address
	if res := do(t, req); res.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("Host attacker.example: %d, want 421", res.StatusCode)
	}
	if res := do(t, s.authed(t, "GET", ts.URL+"/events")); res.StatusCode != http.StatusOK {
		t.Fatalf("own page: %d", res.StatusCode)
	}
}

func TestCrossOriginChangesAreRefused(t *testing.T) {
	s, ts := newTestServer(t)
	u, _ := url.Parse(ts.URL)
	own := "http://" + u.Host
	cases := []struct {
		name          string
		origin, site  string
		csrf          string
		want          int
		reachesRoutes bool
	}{
		{name: "no CSRF token", origin: own, want: http.StatusForbidden},
		{name: "wrong CSRF token", origin: own, csrf: "nope", want: http.StatusForbidden},
		{name: "other origin with the token", origin: "http://evil.example", csrf: s.csrf, want: http.StatusForbidden},
		{name: "cross-site fetch metadata", origin: own, site: "cross-site", csrf: s.csrf, want: http.StatusForbidden},
		{name: "no Origin", csrf: s.csrf, want: http.StatusForbidden},
		// Passes every check: the unknown action is the handler's 400.
		{name: "own page", origin: own, site: "same-origin", csrf: s.csrf, want: http.StatusBadRequest, reachesRoutes: true},
	}
	for _, c := range cases {
		req := s.authed(t, "POST", ts.URL+"/containers/x/explode")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.csrf != "" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
		if res := do(t, req); res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.want)
		}
	}
	// A form another site posts (no header: the field) is refused too.
	req := s.authed(t, "POST", ts.URL+"/containers/x/stop")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Body = http.NoBody
	if res := do(t, req); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form: %d, want 403", res.StatusCode)
	}
}

func TestTerminalRefusesAnotherOrigin(t *testing.T) {
	s, ts := newTestServer(t)
	req := s.authed(t, "GET", ts.URL+"/ws/containers/x/exec?csrf="+s.csrf)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	if res := do(t, req); res.StatusCode != http.StatusForbidden {
		t.Fatalf("WebSocket from another origin: %d, want 403", res.StatusCode)
	}
}

func TestContentSecurityPolicyAndNoInlineScript(t *testing.T) {
	_, ts := newTestServer(t)
	res := do(t, mustReq(t, "GET", ts.URL+"/", nil))
	p := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(p, "script-src 'self';") || !strings.Contains(p, "default-src 'none'") || !strings.Contains(p, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", p)
	}
	// The pages hold no inline script either: TestPagesHaveNoInlineScript.
}

func mustReq(t *testing.T, method, u string, body *strings.Reader) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequest(method, u, nil)
	} else {
		req, err = http.NewRequest(method, u, body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// authed is a request carrying the session cookie.
func (s *Server) authed(t *testing.T, method, u string) *http.Request {
	req := mustReq(t, method, u, nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: s.session})
	return req
}
