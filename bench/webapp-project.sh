# Sourced by the benchmarks that need a project: after `serve_local` (scripts/serve-local),
#   webapp_project BINARY APP_ID
# generates the ~110 MB / ~300-file web build (bench/make-webapp.py) in a Capacitor project
# at $P, logs the CLI in to $URL with $KEY (through the environment), adds the app and a
# default `production` channel, and leaves the shell in $P.
webapp_project() {
  P="$WORK/project"
  mkdir -p "$P"
  python3 bench/make-webapp.py "$P/dist" > /dev/null
  echo "{\"appId\":\"$2\",\"appName\":\"bench\",\"webDir\":\"dist\"}" > "$P/capacitor.config.json"
  echo '{"name":"bench","version":"1.0.0","dependencies":{"@capgo/capacitor-updater":"*"}}' > "$P/package.json"
  export UPDRAFT_API_KEY="$KEY" UPDRAFT_API_URL="$URL"
  cd "$P"
  "$1" app add --json > /dev/null
  "$1" channel add production --default --json > /dev/null
}
