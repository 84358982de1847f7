package testlab

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStartKnot(t *testing.T) {
	addr := StartKnot(t, "127.0.0.1:0", map[string]string{
		"good.test.": `$ORIGIN good.test.
$TTL 60
@ SOA ns.good.test. hostmaster.good.test. 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
@ CAA 0 issue "letsencrypt.org"
www CNAME @
`,
		"broken.test.": "$ORIGIN broken.test.\n@ SOA garbage\n",
	})
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		n     int
	}{
		{"good.test.", dns.TypeCAA, dns.RcodeSuccess, 1},
		{"www.good.test.", dns.TypeCAA, dns.RcodeSuccess, 2},
		{"broken.test.", dns.TypeCAA, dns.RcodeServerFailure, 0},
		{"other.test.", dns.TypeCAA, dns.RcodeRefused, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Rcode != tc.rcode || len(r.Answer) != tc.n {
			t.Errorf("%s: rcode %s, %d answers; want %s, %d\n%v", tc.name, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode], tc.n, r)
		}
	}
}
