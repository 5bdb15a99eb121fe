# Sourced by scripts/test: installs moto's AWS emulator (PyPI, pinned; SQS only, with its
# server) under $tools/moto if needed (install_moto), starts it on a free loopback port, stops
# it when the calling script exits, and exports MOTO_ENDPOINT (start_moto). Needs python3 with
# venv.
install_moto() {
  # Again when it does not run (a venv moved with its checkout names its old path).
  if ! "$tools/moto/bin/moto_server" --help >/dev/null 2>&1; then
    python3 -m venv --clear "$tools/moto"
    "$tools/moto/bin/pip" install --quiet --no-compile --disable-pip-version-check \
      "moto[sqs]==5.1.22" "flask==3.1.3" "flask-cors==6.0.5"
  fi
}

start_moto() {
  install_moto
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tools/moto/bin/moto_server" -H 127.0.0.1 -p "$port" >"$tools/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$moto_pid" 2>/dev/null || { cat "$tools/moto.log" >&2; echo "moto failed to start" >&2; exit 1; }
    sleep 0.1
  done
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  echo "moto (SQS) on $MOTO_ENDPOINT"
}
