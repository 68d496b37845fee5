package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard: a page at / of the API address and its assets under
// /ui/, embedded in the binary (plain HTML, CSS and JavaScript; no build
// step, nothing from another origin). The page and its assets are the
// only things served without the token: they hold no data, and a browser
// navigating to a URL cannot send an Authorization header. The Host and
// Origin checks of the guard still apply. The page reads the token from
// its URL's fragment (#token=..., never sent to any server) or from a form,
// keeps it in sessionStorage and sends it as a header with every call of
// the API, like any other client (docs/security.md).

//go:embed ui
var uiFiles embed.FS

// dashboardCSP keeps the page to its own origin: its own scripts and
// styles only, no frames around it, no form posts, no base rewriting.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// publicPath reports whether path is part of the dashboard's static page
// (served to a GET without the token).
func publicPath(method, path string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	return path == "/" || path == "/favicon.ico" || (len(path) > len("/ui/") && path[:len("/ui/")] == "/ui/")
}

func (s *Server) dashboardRoutes() {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	s.mux.Handle("GET /ui/", pageHeaders(files))
	s.mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})))
	s.mux.Handle("GET /favicon.ico", http.NotFoundHandler())
}

func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboardCSP)
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
