package api

import "net/http"

func (s *Server) doctorRoutes() {
	s.Handle("GET /doctor", s.doctor)
}

// doctor reports the node's reachability, relays, hole punches, bootstrap
// peers, engines and repo, each problem with what to do (shoal doctor).
func (s *Server) doctor(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, s.n.Doctor(r.Context()))
	return nil
}
