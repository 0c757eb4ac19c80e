package uspsbiztest

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// quota is a fixed one-hour window of calls to one API, on the fake clock.
type quota struct {
	perHour int
	start   time.Time
	used    int
}

// SetQuota limits calls to one resource API ("payments", "prices" or
// "tracking") to perHour an hour, as USPS's API products do (60 by
// default there). Calls beyond it get USPS's 429 with Retry-After.
// perHour <= 0 removes the quota.
func (s *Server) SetQuota(api string, perHour int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setQuotaLocked(api, perHour)
}

func (s *Server) setQuotaLocked(api string, perHour int) {
	if perHour <= 0 {
		delete(s.res.quotas, api)
		return
	}
	s.res.quotas[api] = &quota{perHour: perHour}
}

// limited counts a call against api's quota before h runs. The window
// starts with the first call and lasts an hour; every call counts, whether
// or not it succeeds, as at USPS's gateway.
func (s *Server) limited(api string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		q := s.res.quotas[api]
		var wait time.Duration
		if q != nil {
			now := s.nowLocked()
			if q.start.IsZero() || !now.Before(q.start.Add(time.Hour)) {
				q.start, q.used = now, 0
			}
			if q.used >= q.perHour {
				wait = q.start.Add(time.Hour).Sub(now)
			} else {
				q.used++
			}
		}
		s.mu.Unlock()
		if wait > 0 {
			writeQuotaExceeded(w, apiVersionOf(r.URL.Path), wait)
			return
		}
		h(w, r)
	}
}

// writeQuotaExceeded writes the 429 USPS's gateway answers (docs/usps.md#quotas), with Retry-After in whole seconds.
func writeQuotaExceeded(w http.ResponseWriter, apiVersion string, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"apiVersion": apiVersion,
		"error": map[string]any{
			"code":    "429",
			"message": "Exceeded quota limit. Please contact https://emailus.usps.com/s/web-tools-inquiry for a quota increase.",
			"errors": []map[string]any{{
				"status": "429",
				"title":  "Too Many Requests.",
				"detail": "Quota limit exceeded. Please reduce the number of requests.",
				"source": map[string]any{"parameter": "API product or default", "APIProduct": "Public Access I"},
			}},
		},
	})
}
