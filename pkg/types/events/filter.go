package events

import "strings"

// Match reports whether m passes the filter's key/value filters. Values of
// one key are alternatives; different keys must all match.
func (f Filter) Match(m Message) bool {
	for key, values := range f.Filters {
		if len(values) == 0 {
			continue
		}
		ok := false
		for _, v := range values {
			if matchOne(key, v, m) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchOne(key, v string, m Message) bool {
	switch key {
	case "type":
		return m.Type == v
	case "event", "action":
		return m.Action == v || strings.HasPrefix(m.Action, v+":")
	case "container":
		return m.Type == TypeContainer && (strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
	case "image":
		return m.Actor.Attributes["image"] == v || (m.Type == TypeImage && (m.Actor.ID == v || m.Actor.Attributes["name"] == v))
	case "network":
		return m.Type == TypeNetwork && (m.Actor.ID == v || m.Actor.Attributes["name"] == v)
	case "volume":
		return m.Type == TypeVolume && (m.Actor.ID == v || m.Actor.Attributes["name"] == v)
	case "service":
		return m.Type == TypeService && (strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
	case "label":
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := m.Actor.Attributes[k]
		return ok && (!hasVal || got == val)
	}
	return false
}
