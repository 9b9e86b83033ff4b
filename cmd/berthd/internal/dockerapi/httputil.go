package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// maxJSONBody bounds a JSON request body (create, exec, network create...).
// Real ones are a few kB; a larger one is refused before it is read.
const maxJSONBody = 4 << 20

// statusError is an error answered with its own status and message.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }

// statusOf maps an error to the HTTP status dockerd gives its class.
func statusOf(err error) int {
	var se statusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err), errdefs.IsFailedPrecondition(err):
		return http.StatusConflict
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 499 // the client went away; nobody reads this
	}
	return http.StatusInternalServerError
}

// writeError answers err as dockerd does: {"message": ...} with its status
// (no body for 304 and HEAD).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	msg := errorMessage(err)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	_ = writeJSON(w, status, map[string]string{"message": msg})
}

// errorMessage is err's text without the errdefs class suffix the engine's
// wrapping adds (": not found").
func errorMessage(err error) string {
	msg := err.Error()
	for _, class := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrAlreadyExists,
		errdefs.ErrFailedPrecondition, errdefs.ErrNotModified, errdefs.ErrUnauthenticated, errdefs.ErrPermissionDenied,
		errdefs.ErrUnavailable, errdefs.ErrNotImplemented, errdefs.ErrInternal, errdefs.ErrUnknown} {
		msg = strings.TrimSuffix(msg, ": "+class.Error())
	}
	return msg
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// decodeJSON decodes r's body into v, as moby's httputils.ReadJSON: a body
// must say Content-Type application/json; an empty body leaves v as it is
// when allowEmpty; malformed JSON, wrong types and content after the value
// are a 400 naming the problem, with dockerd's words ("invalid JSON: …",
// "unexpected content after JSON").
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF) && allowEmpty:
			return nil
		case errors.Is(err, io.EOF):
			return invalid("the request body is empty: a JSON object is expected")
		case errors.As(err, &mbe):
			return statusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", maxJSONBody)}
		case errors.As(err, &te):
			return invalid("invalid JSON: field %s must be of type %s, not %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			return invalid("invalid JSON: %v (at byte %d)", err, se.Offset)
		}
		return invalid("invalid JSON: %v", err)
	}
	if dec.More() {
		return invalid("unexpected content after JSON: the request body must hold one JSON value")
	}
	return nil
}

// checkJSONContentType is moby's httputils.CheckForJSON: no Content-Type
// is fine for an empty body, anything else must be application/json.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return invalid("unsupported Content-Type header (%s): must be 'application/json'", ct)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// boolValue parses a boolean query parameter as moby's BoolValue does:
// "", "0", "no", "false", "none" are false, anything else is true.
func boolValue(r *http.Request, k string) bool {
	s := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(k)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// boolValueOr is boolValue with a default for an absent parameter.
func boolValueOr(r *http.Request, k string, def bool) bool {
	if _, ok := r.URL.Query()[k]; !ok {
		return def
	}
	return boolValue(r, k)
}

// intValue parses an integer query parameter (def when absent).
func intValue(r *http.Request, k string, def int) (int, error) {
	s := r.URL.Query().Get(k)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid("invalid value for %s: %q is not an integer", k, s)
	}
	return n, nil
}

// parseFilters decodes the filters parameter in both forms clients send:
// {"label":{"a=b":true}} (Go clients) and {"label":["a=b"]} (docker-py).
func parseFilters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return nil, nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		return nil, invalid("invalid filters %q: %v", raw, err)
	}
	out := make(map[string][]string, len(generic))
	for k, v := range generic {
		var set map[string]bool
		if err := json.Unmarshal(v, &set); err == nil {
			for val, on := range set {
				if on {
					out[k] = append(out[k], val)
				}
			}
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, invalid("invalid filter %q: values must be a list or a map of strings", k)
		}
		out[k] = append(out[k], list...)
	}
	return out, nil
}

// parseTime parses a since/until parameter as dockerd does: unix seconds
// with optional fraction ("1700000000.123"), or an RFC 3339 time, or a
// duration before now ("10m").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	// A bare number is Unix seconds (Go's ParseDuration takes "0" too).
	if d, err := time.ParseDuration(s); err == nil && strings.TrimLeft(s, "0123456789.") != "" {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, invalid("invalid time %q: want unix seconds, RFC 3339 or a duration", s)
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, invalid("invalid time %q", s)
		}
		nsec = f
	}
	return time.Unix(n, nsec), nil
}

// registryAuth decodes an X-Registry-Auth header (base64url JSON).
func registryAuth(h string) (map[string]string, error) {
	if h == "" {
		return nil, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.StdEncoding.DecodeString(h); err != nil {
			if b, err = base64.RawURLEncoding.DecodeString(h); err != nil {
				return nil, invalid("invalid X-Registry-Auth header: not base64")
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalid("invalid X-Registry-Auth header: %v", err)
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[strings.ToLower(k)] = s
		}
	}
	return out, nil
}

// flusher flushes w after each write, for streams (logs -f, events, pull).
type flusher struct {
	w  io.Writer
	rc *http.ResponseController
}

func newFlusher(w http.ResponseWriter) *flusher {
	return &flusher{w: w, rc: http.NewResponseController(w)}
}

func (f *flusher) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// jsonStream writes one JSON object per line, flushed.
type jsonStream struct {
	f   *flusher
	enc *json.Encoder
}

func newJSONStream(w http.ResponseWriter) *jsonStream {
	f := newFlusher(w)
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	return &jsonStream{f: f, enc: enc}
}

func (s *jsonStream) send(v any) error { return s.enc.Encode(v) }

// sendError writes a stream error as Docker clients expect it in a 200
// JSON-lines answer.
func (s *jsonStream) sendError(err error) error {
	msg := errorMessage(err)
	return s.send(map[string]any{"errorDetail": map[string]string{"message": msg}, "error": msg})
}
