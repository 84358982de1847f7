package notify

import (
	"net"
	"path"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// Assign gives each finding its owner: the owner inventory metadata gives
// its key, else the first owner (in config order) whose sources or
// labels match its key, else the owner of its most specific domain, else
// the first whose CIDRs hold its endpoint's address. A finding nobody
// owns keeps an empty owner. owners must have passed CheckOwners.
func Assign(owners []Owner, s *reconcile.Snapshot, fs []reconcile.Finding) {
	var srcBySPKI map[string]string
	if s != nil {
		srcBySPKI = make(map[string]string, len(s.KeySources))
		for i := range s.Keys {
			if spki := s.Keys[i].SPKISHA256; spki != "" && srcBySPKI[spki] == "" {
				srcBySPKI[spki] = s.KeySource(i)
			}
		}
	}
	for i := range fs {
		fs[i].Owner = ownerOf(owners, s, srcBySPKI, &fs[i])
	}
}

func ownerOf(owners []Owner, s *reconcile.Snapshot, srcBySPKI map[string]string, f *reconcile.Finding) string {
	var labels []string
	sources := []string{f.Source}
	if s != nil && f.SPKISHA256 != "" {
		for _, k := range s.KeysBySPKI(f.SPKISHA256) {
			if k.Owner != "" {
				return k.Owner
			}
			labels = append(labels, k.Label)
		}
		if src := srcBySPKI[f.SPKISHA256]; src != "" {
			sources = append(sources, src)
		}
	}
	if l, ok := f.Evidence["label"].(string); ok {
		labels = append(labels, l)
	}
	if src, ok := f.Evidence["source"].(string); ok {
		sources = append(sources, src)
	}
	for _, o := range owners {
		if globAny(o.Sources, sources) || globAny(o.Labels, labels) {
			return o.Name
		}
	}
	host, ip := endpointHost(f.Endpoint)
	names := []string{host}
	if n := subjectName(f.Subject); n != "" {
		names = append(names, n)
	}
	best, bestLen := "", 0
	for _, o := range owners {
		for _, d := range o.Domains {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			for _, n := range names {
				if n != "" && (n == d || strings.HasSuffix(n, "."+d)) && len(d) > bestLen {
					best, bestLen = o.Name, len(d)
				}
			}
		}
	}
	if best != "" {
		return best
	}
	if ip == nil {
		ip = net.ParseIP(host)
	}
	if ip != nil {
		for _, o := range owners {
			for _, n := range o.nets {
				if n.Contains(ip) {
					return o.Name
				}
			}
		}
	}
	return ""
}

func globAny(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if v == "" {
				continue
			}
			if ok, _ := path.Match(p, v); ok {
				return true
			}
		}
	}
	return false
}

// endpointHost reads an endpoint as findings name it — "tls://host:443",
// "smtp://mail.example.test:25 (127.0.0.5)", "host:443" — into its
// lower-case host and, when given, its address.
func endpointHost(ep string) (string, net.IP) {
	if ep == "" {
		return "", nil
	}
	var ip net.IP
	if i := strings.Index(ep, " ("); i >= 0 {
		ip = net.ParseIP(strings.TrimSuffix(ep[i+2:], ")"))
		ep = ep[:i]
	}
	if i := strings.Index(ep, "://"); i >= 0 {
		ep = ep[i+3:]
	}
	host := ep
	if h, _, err := net.SplitHostPort(ep); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")), ip
}

// subjectName is the DNS name a finding's subject names: a bare name, or
// the CN of a distinguished name.
func subjectName(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "CN="); ok {
			return strings.ToLower(strings.TrimPrefix(v, "*."))
		}
	}
	if strings.ContainsAny(subject, "=/ ") || !strings.Contains(subject, ".") {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(subject, "*."))
}
