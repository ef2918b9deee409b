# The two commands of README.md. Everything else is in scripts/.
.PHONY: run test site

run:   ## build the release site and server, serve on http://127.0.0.1:3000 (data in ./data)
	scripts/run.sh

test:  ## every check and every test (Rust, PostgreSQL, Playwright)
	scripts/test.sh

site:  ## only the debug site, for development
	scripts/build-site.sh debug
