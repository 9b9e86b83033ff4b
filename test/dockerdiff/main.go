// Command dockerdiff replays a recorded set of Docker Engine API requests
// (requests.json: what the docker CLI, compose and docker-py send) against
// two engines, berthd and dockerd, and reports every difference in status,
// headers and JSON shape, field by field.
//
//	go run ./test/dockerdiff -a unix:///run/berth/docker.sock -b unix:///tmp/d/docker.sock
//
// Both engines need the image busybox:latest; the requests make and remove
// their own containers, networks and volumes (all named dd-…). Paths are sent
// with the highest API version both engines serve (/vX.Y/…) unless the
// request says raw. Known differences (known.txt: "METHOD PATH FIELD REASON")
// are reported as known; the exit status is 1 when an unknown one is found.
// `make docker-diff` runs it against a private berthd and a private dockerd
// (TestDockerDiff).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request is one recorded request.
type Request struct {
	Client string            `json:"client"` // who sends it: "docker CLI: docker ps -a"
	Method string            `json:"method"`
	Path   string            `json:"path"` // without /vX.Y; {name} is a saved value
	Raw    bool              `json:"raw"`  // send Path as it is (no version prefix)
	Header map[string]string `json:"header"`
	Body   json.RawMessage   `json:"body"`
	Save   string            `json:"save"`     // keep the answer's Id as {Save}
	Sleep  int               `json:"sleep_ms"` // wait before sending (let a process finish)
}

// Answer is what one engine answered.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   any  // decoded body (a JSON-lines stream: its lines merged)
	IsJSON bool // the body was JSON
}

// Difference is one field that differs.
type Difference struct {
	Request string // METHOD PATH
	Client  string
	Field   string // status, header NAME, body.PATH
	A, B    string
	Known   string // the reason, when known.txt lists it
}

func main() {
	a := flag.String("a", "", "first engine (berthd), unix:///path/docker.sock")
	b := flag.String("b", "", "second engine (dockerd), unix:///path/docker.sock")
	reqs := flag.String("requests", "test/dockerdiff/requests.json", "recorded requests")
	known := flag.String("known", "test/dockerdiff/known.txt", "known differences")
	an := flag.String("a-name", "berth", "first engine's name in the report")
	bn := flag.String("b-name", "dockerd", "second engine's name in the report")
	flag.Parse()
	if *a == "" || *b == "" {
		fmt.Fprintln(os.Stderr, "dockerdiff: -a and -b are required (unix:///path/docker.sock)")
		os.Exit(2)
	}
	diffs, err := Run(*reqs, *known, *a, *b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerdiff:", err)
		os.Exit(2)
	}
	unknown := Report(os.Stdout, diffs, *an, *bn)
	if unknown > 0 {
		os.Exit(1)
	}
}

// Run replays the requests on both engines and returns the differences.
func Run(reqFile, knownFile, hostA, hostB string) ([]Difference, error) {
	var reqs []Request
	b, err := os.ReadFile(reqFile)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &reqs); err != nil {
		return nil, fmt.Errorf("%s: %v", reqFile, err)
	}
	known, err := readKnown(knownFile)
	if err != nil {
		return nil, err
	}
	ea, eb := newEngine(hostA), newEngine(hostB)
	va, err := ea.apiVersion()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", hostA, err)
	}
	vb, err := eb.apiVersion()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", hostB, err)
	}
	version := va
	if versionLess(vb, va) {
		version = vb
	}
	ea.version, eb.version = version, version
	var diffs []Difference
	for _, r := range reqs {
		if r.Sleep > 0 {
			time.Sleep(time.Duration(r.Sleep) * time.Millisecond)
		}
		xa, err := ea.do(r)
		if err != nil {
			return diffs, fmt.Errorf("%s %s on %s: %v", r.Method, r.Path, hostA, err)
		}
		xb, err := eb.do(r)
		if err != nil {
			return diffs, fmt.Errorf("%s %s on %s: %v", r.Method, r.Path, hostB, err)
		}
		name := r.Method + " " + r.Path
		for _, d := range Compare(xa, xb) {
			d.Request, d.Client = name, r.Client
			d.Known = known.reason(name, d.Field)
			diffs = append(diffs, d)
		}
	}
	return diffs, nil
}

// Report prints the differences per request and returns how many are not
// known.
func Report(w io.Writer, diffs []Difference, an, bn string) int {
	unknown := 0
	last := ""
	for _, d := range diffs {
		if d.Request != last {
			fmt.Fprintf(w, "\n%s   (%s)\n", d.Request, d.Client)
			last = d.Request
		}
		mark := "  "
		if d.Known == "" {
			mark = "! "
			unknown++
		}
		fmt.Fprintf(w, "%s%-44s %s: %s | %s: %s", mark, d.Field, an, d.A, bn, d.B)
		if d.Known != "" {
			fmt.Fprintf(w, "   [known: %s]", d.Known)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%d differences, %d known (listed in known.txt with their reason), %d unknown (marked !)\n",
		len(diffs), len(diffs)-unknown, unknown)
	return unknown
}

type engine struct {
	client  *http.Client
	version string
	saved   map[string]string
}

func newEngine(host string) *engine {
	sock := strings.TrimPrefix(host, "unix://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &engine{client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, saved: map[string]string{}}
}

func (e *engine) apiVersion() (string, error) {
	resp, err := e.client.Get("http://docker/version")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		APIVersion string `json:"ApiVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.APIVersion, nil
}

var savedRef = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

func (e *engine) do(r Request) (*Answer, error) {
	path := savedRef.ReplaceAllStringFunc(r.Path, func(m string) string { return e.saved[m[1:len(m)-1]] })
	if !r.Raw {
		path = "/v" + e.version + path
	}
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, "http://docker"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	a := &Answer{Status: resp.StatusCode, Header: resp.Header, Body: data}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") || (ct == "" && len(data) > 0 && (data[0] == '{' || data[0] == '[')) {
		a.JSON, a.IsJSON = decodeJSONish(data)
	}
	if r.Save != "" {
		var id struct {
			ID string `json:"Id"`
		}
		_ = json.Unmarshal(data, &id)
		e.saved[r.Save] = id.ID
	}
	return a, nil
}

// decodeJSONish decodes a JSON body, or a JSON-lines stream whose objects
// are merged into one (the union of their fields), so a stream is compared
// by the fields its lines carry.
func decodeJSONish(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var vals []any
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return nil, false
		}
		vals = append(vals, v)
	}
	switch len(vals) {
	case 0:
		return nil, len(bytes.TrimSpace(data)) == 0
	case 1:
		return vals[0], true
	}
	merged := map[string]any{}
	for _, v := range vals {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				if _, seen := merged[k]; !seen {
					merged[k] = x
				}
			}
		}
	}
	return merged, true
}

// comparedHeaders are compared by value; every other header only by
// presence (ignoredHeaders not at all).
var comparedHeaders = []string{"Content-Type", "Ostype", "Docker-Experimental", "Cache-Control", "Pragma", "Swarm"}

var ignoredHeaders = map[string]bool{"Date": true, "Content-Length": true, "Transfer-Encoding": true, "Server": true,
	"Connection": true, "Api-Version": true, "Builder-Version": true}

// comparedValues are the body fields whose values are compared (the others
// differ by nature: IDs, times, addresses, sizes).
var comparedValues = map[string]bool{"message": true, "Status": true, "Running": true, "Paused": true, "Restarting": true,
	"ExitCode": true, "StatusCode": true, "Driver": true, "Scope": true, "Type": true, "Internal": true, "Attachable": true,
	"Warning": true, "Untagged": true, "OSType": true, "OpenStdin": true, "Tty": true, "NetworkMode": true, "RestartPolicy": true,
	"Action": true, "Source": true, "Destination": true, "Mode": true, "RW": true, "Propagation": true, "Name": true}

// Compare lists the differences between two answers to one request.
func Compare(a, b *Answer) []Difference {
	var out []Difference
	if a.Status != b.Status {
		out = append(out, Difference{Field: "status", A: strconv.Itoa(a.Status) + messageOf(a), B: strconv.Itoa(b.Status) + messageOf(b)})
	}
	for _, h := range comparedHeaders {
		if va, vb := a.Header.Get(h), b.Header.Get(h); va != vb {
			out = append(out, Difference{Field: "header " + h, A: quoteOrAbsent(va), B: quoteOrAbsent(vb)})
		}
	}
	names := map[string]bool{}
	for k := range a.Header {
		names[k] = true
	}
	for k := range b.Header {
		names[k] = true
	}
	var hs []string
	for k := range names {
		hs = append(hs, k)
	}
	sort.Strings(hs)
	for _, h := range hs {
		if ignoredHeaders[h] || contains(comparedHeaders, h) {
			continue
		}
		_, ina := a.Header[h]
		_, inb := b.Header[h]
		if ina != inb {
			out = append(out, Difference{Field: "header " + h, A: presence(ina), B: presence(inb)})
		} else if h == "X-Docker-Container-Path-Stat" {
			out = append(out, shapeDiff("header "+h, decodeStat(a.Header.Get(h)), decodeStat(b.Header.Get(h)), "")...)
		}
	}
	switch {
	case a.IsJSON && b.IsJSON:
		out = append(out, shapeDiff("body", a.JSON, b.JSON, "")...)
	case a.IsJSON != b.IsJSON && len(a.Body)+len(b.Body) > 0:
		out = append(out, Difference{Field: "body", A: kindOfBody(a), B: kindOfBody(b)})
	}
	return out
}

// messageOf is an error answer's message, for the report.
func messageOf(a *Answer) string {
	if m, ok := a.JSON.(map[string]any); ok {
		if msg, ok := m["message"].(string); ok {
			return " " + strconv.Quote(msg)
		}
	}
	return ""
}

func decodeStat(h string) any {
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil
	}
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func kindOfBody(a *Answer) string {
	if a.IsJSON {
		return "JSON"
	}
	if len(a.Body) == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d bytes, not JSON", len(a.Body))
}

// shapeDiff compares two JSON values: fields present on one side only,
// types, and the values of comparedValues fields. Arrays are compared by
// their first elements (their shape), and by emptiness.
func shapeDiff(path string, a, b any, key string) []Difference {
	ta, tb := typeOf(a), typeOf(b)
	if ta != tb {
		return []Difference{{Field: path, A: ta + short(a), B: tb + short(b)}}
	}
	var out []Difference
	switch x := a.(type) {
	case map[string]any:
		y := b.(map[string]any)
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			va, ina := x[k]
			vb, inb := y[k]
			p := path + "." + k
			if looksVariable(k) {
				p = path + ".*"
			}
			switch {
			case ina && !inb:
				out = append(out, Difference{Field: p, A: "present" + short(va), B: "absent"})
			case !ina && inb:
				out = append(out, Difference{Field: p, A: "absent", B: "present" + short(vb)})
			default:
				out = append(out, shapeDiff(p, va, vb, k)...)
			}
		}
	case []any:
		y := b.([]any)
		if (len(x) == 0) != (len(y) == 0) {
			out = append(out, Difference{Field: path, A: fmt.Sprintf("%d items", len(x)), B: fmt.Sprintf("%d items", len(y))})
		} else if len(x) > 0 {
			out = append(out, shapeDiff(path+"[0]", x[0], y[0], key)...)
		}
	default:
		if comparedValues[key] && fmt.Sprint(a) != fmt.Sprint(b) {
			out = append(out, Difference{Field: path, A: short(a), B: short(b)})
		}
	}
	return out
}

// looksVariable tells map keys that are data, not field names: IDs,
// ports ("80/tcp"), paths, label keys, network names.
var variableKey = regexp.MustCompile(`^([0-9a-f]{12,}|[0-9]+/(tcp|udp)|/.*|.*\..*|dd-.*|bridge|host|none|eth[0-9]+)$`)

func looksVariable(k string) bool { return variableKey.MatchString(k) }

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}

func short(v any) string {
	switch v.(type) {
	case map[string]any, []any, nil:
		return ""
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "…"
	}
	return " " + s
}

func quoteOrAbsent(s string) string {
	if s == "" {
		return "absent"
	}
	return strconv.Quote(s)
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	if len(pa) < 2 || len(pb) < 2 {
		return a < b
	}
	ma, _ := strconv.Atoi(pa[0])
	mb, _ := strconv.Atoi(pb[0])
	if ma != mb {
		return ma < mb
	}
	na, _ := strconv.Atoi(pa[1])
	nb, _ := strconv.Atoi(pb[1])
	return na < nb
}

// known holds known.txt: "METHOD PATH FIELD REASON…" lines; FIELD may end
// in * to cover a subtree.
type known []struct{ req, field, reason string }

func readKnown(path string) (known, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var k known
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// METHOD PATH FIELD… REASON: the field may hold a space ("header
		// Content-Type"), so it is written with the reason after " -- ".
		head, reason, ok := strings.Cut(line, " -- ")
		f := strings.SplitN(head, " ", 3)
		if !ok || len(f) < 3 || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want METHOD PATH FIELD -- REASON", path, n)
		}
		k = append(k, struct{ req, field, reason string }{f[0] + " " + f[1], strings.TrimSpace(f[2]), strings.TrimSpace(reason)})
	}
	return k, sc.Err()
}

func (k known) reason(req, field string) string {
	for _, e := range k {
		if e.req != req && e.req != "* *" {
			continue
		}
		if e.field == field || (strings.HasSuffix(e.field, "*") && strings.HasPrefix(field, strings.TrimSuffix(e.field, "*"))) {
			return e.reason
		}
	}
	return ""
}
