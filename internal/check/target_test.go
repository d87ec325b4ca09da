package check

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		port     int
		errorHas string
	}{
		{in: "finesse-a.example.com", host: "finesse-a.example.com", port: 8445},
		{in: "finesse-a.example.com:443", host: "finesse-a.example.com", port: 443},
		{in: "https://finesse-a.example.com:8445", host: "finesse-a.example.com", port: 8445},
		{in: "https://finesse-a.example.com/finesse/api/SystemInfo", host: "finesse-a.example.com", port: 8445},
		{in: "127.0.0.1:18445", host: "127.0.0.1", port: 18445},
		{in: "[::1]:8445", host: "::1", port: 8445},
		{in: "::1", host: "::1", port: 8445},
		{in: "[::1]", host: "::1", port: 8445},
		{in: "http://finesse-a.example.com:8082", errorHas: "HTTPS only"},
		{in: "https://admin:S3cret@finesse-a.example.com", errorHas: `server "https://REDACTED@finesse-a.example.com": credentials`},
		{in: "admin:S3cret@finesse-a.example.com:8445", errorHas: `server "REDACTED@finesse-a.example.com:8445": credentials`},
		{in: "admin:S3cret@finesse-a.example.com", errorHas: "credentials"},
		{in: "http://admin:S3cret@finesse-a.example.com", errorHas: "HTTPS only"},
		{in: "finesse-a.example.com:0", errorHas: "1 to 65535"},
		{in: "finesse-a.example.com:http", errorHas: "1 to 65535"},
		{in: "finesse-a.example.com:99999", errorHas: "1 to 65535"},
		{in: "", errorHas: "no valid host"},
		{in: ":8445", errorHas: "no valid host"},
		{in: "a b", errorHas: "no valid host"},
		{in: "bad\x1b[31mhost", errorHas: "no valid host"},
		{in: "[::1", errorHas: "write HOST, HOST:PORT"},
		{in: "[finesse-a]", errorHas: "no valid host"},
		{in: "finesse_a.example.com", host: "finesse_a.example.com", port: 8445},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
					t.Fatalf("ParseTarget(%q) error = %v, want one containing %q", tt.in, err, tt.errorHas)
				}
				if strings.Contains(err.Error(), "S3cret") {
					t.Fatalf("ParseTarget(%q) error quotes the password: %v", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tt.in, err)
			}
			if got.Host != tt.host || got.HTTPSPort != tt.port || got.Name != tt.in {
				t.Fatalf("ParseTarget(%q) = %+v, want host %q port %d", tt.in, got, tt.host, tt.port)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tg, err := ParseTarget("[::1]:9443")
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.BaseURL().String(); got != "https://[::1]:9443" {
		t.Fatalf("BaseURL = %s", got)
	}
}
