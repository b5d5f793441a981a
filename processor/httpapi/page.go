package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// The operator's page: static files only (web/README.md lists them and
// where the vendored Chart.js and its Sankey plugin come from). The page
// polls /v1/stats, and /v1/cohorts, /v1/flows, /v1/segments and
// /v1/warnings less often; it holds no data of its own, so it is served
// without a token (RequireToken) and asks for the token when /v1/stats
// answers 401.
//
//go:embed web/index.html web/app.js web/style.css web/chart.umd.min.js web/chart.js-LICENSE.md
//go:embed web/chartjs-chart-sankey.min.js web/chartjs-chart-sankey-LICENSE.md
var webFiles embed.FS

const assetsPrefix = "/assets/"

// pageCSP lets the page load its own scripts, styles and data and nothing
// else: it works offline, and a CDN reference would fail in a browser.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func handlePage(mux *http.ServeMux) {
	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	assets := http.StripPrefix(assetsPrefix, http.FileServerFS(web))
	mux.Handle("GET "+assetsPrefix, pageHeaders(assets))
	mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})))
}

func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
