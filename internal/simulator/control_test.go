package simulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The control API changes scenarios only for a request that presents the
// run's token and does not come from a web page.
func TestControlAPIRefusesRequestsWithoutTheToken(t *testing.T) {
	c := startTest(t, 2)
	h, token := ControlHandler(c)
	srv := httptest.NewServer(h)
	defer srv.Close()
	wrong := strings.Repeat("A", len(token))
	if wrong == token {
		wrong = strings.Repeat("B", len(token))
	}
	const switchNode1 = "/scenario?name=tomcat-down&node=1"
	for _, tc := range []struct {
		name, method, target string
		header               http.Header
		want                 int
	}{
		{"token in query", "POST", switchNode1 + "&token=" + token, nil, http.StatusOK},
		{"bearer token", "POST", switchNode1, http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK},
		{"bearer scheme in lower case", "POST", switchNode1, http.Header{"Authorization": {"bearer " + token}}, http.StatusOK},
		{"GET with token", "GET", "/scenario?token=" + token, nil, http.StatusOK},
		{"no token", "POST", switchNode1, nil, http.StatusForbidden},
		{"GET without token", "GET", "/scenario", nil, http.StatusForbidden},
		{"wrong token", "POST", switchNode1 + "&token=" + wrong, nil, http.StatusForbidden},
		{"token prefix", "POST", switchNode1 + "&token=" + token[:len(token)-1], nil, http.StatusForbidden},
		{"empty token", "POST", switchNode1 + "&token=", nil, http.StatusForbidden},
		{"wrong bearer", "POST", switchNode1, http.Header{"Authorization": {"Bearer " + wrong}}, http.StatusForbidden},
		{"token as basic credentials", "POST", switchNode1, http.Header{"Authorization": {"Basic " + token}}, http.StatusForbidden},
		{"cross-site POST", "POST", switchNode1 + "&token=" + token, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"opaque origin", "POST", switchNode1 + "&token=" + token, http.Header{"Origin": {"null"}}, http.StatusForbidden},
		{"cross-site GET", "GET", "/scenario?token=" + token, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"PUT", "PUT", switchNode1 + "&token=" + token, nil, http.StatusMethodNotAllowed},
		{"DELETE", "DELETE", "/scenario?token=" + token, nil, http.StatusMethodNotAllowed},
		{"HEAD", "HEAD", "/scenario?token=" + token, nil, http.StatusMethodNotAllowed},
		{"trailing slash", "POST", "/scenario/?name=tomcat-down&node=1&token=" + token, nil, http.StatusNotFound},
		{"root", "GET", "/?token=" + token, nil, http.StatusNotFound},
		{"other path", "GET", "/scenarios?token=" + token, nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Nodes[1].SetScenario(Healthy); err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(tc.method, srv.URL+tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if strings.Contains(string(body), token) {
				t.Errorf("the response reveals the token: %s", body)
			}
			want := Healthy
			if tc.method == "POST" && tc.want == http.StatusOK {
				want = TomcatDown
			}
			if got := c.Nodes[1].Scenario(); got != want {
				t.Errorf("node 1 is %s after the request, want %s", got, want)
			}
			if tc.want == http.StatusForbidden && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("403 as %q, want a plain-text reason", resp.Header.Get("Content-Type"))
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow: %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestControlTokensAreFreshAndURLSafe(t *testing.T) {
	c := startTest(t, 1)
	_, a := ControlHandler(c)
	_, b := ControlHandler(c)
	if a == b {
		t.Fatalf("two handlers share the token %s", a)
	}
	for _, tok := range []string{a, b} {
		// 26 base32 characters carry 130 bits.
		if len(tok) < 26 || url.QueryEscape(tok) != tok {
			t.Errorf("token %q: want at least 26 characters that need no URL escaping", tok)
		}
	}
}
