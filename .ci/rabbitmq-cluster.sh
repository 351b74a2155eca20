#!/usr/bin/env bash
# A local 3-node RabbitMQ cluster beside the single test broker, for test/cluster.test.ts and
# bench/cluster.mjs: nodes s1@localhost, s2@localhost, s3@localhost, AMQP on 127.0.0.1:5681-5683,
# AMQP over TLS on 127.0.0.1:5691-5693 (certificates made here with openssl), distribution on
# 127.0.0.1:25681-25683. Loopback only. The broker on 5672 is left alone.
#
#   bash .ci/rabbitmq-cluster.sh            start it (exits 0 at once when the cluster answers)
#   bash .ci/rabbitmq-cluster.sh stop       stop the three nodes (their data stays)
#   bash .ci/rabbitmq-cluster.sh start s2   start one node again (after a kill) and wait until it runs
#
# Everything lives under $MULTITASK_CLUSTER_DIR (default /tmp/multitask-cluster): per node its
# data, logs, pid file and config, and tls/ with ca.pem, server.pem, server-key.pem,
# client.pem, client-key.pem, and other-ca.pem (a CA that signed nothing here, for the test of
# a wrong CA).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${MULTITASK_CLUSTER_DIR:-/tmp/multitask-cluster}"
NODES=(s1 s2 s3)
declare -A PORT=([s1]=5681 [s2]=5682 [s3]=5683)
declare -A TLS_PORT=([s1]=5691 [s2]=5692 [s3]=5693)
declare -A DIST_PORT=([s1]=25681 [s2]=25682 [s3]=25683)
# Debian's rabbitmq-server and rabbitmqctl switch to the rabbitmq user when run as root (whose
# Erlang cookie the nodes then share); another user runs the nodes as itself.
AS_ROOT=0
[ "$(id -u)" -eq 0 ] && AS_ROOT=1

ctl() {
  if [ "$AS_ROOT" -eq 1 ]; then rabbitmqctl "$@"; else /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; fi
}

amqp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when s1 reports all three nodes running in one cluster.
cluster_up() {
  local status
  status="$(ctl -q -n s1@localhost cluster_status --formatter json 2>/dev/null)" || return 1
  for node in "${NODES[@]}"; do
    grep -q "\"running_nodes\":\[[^]]*\"$node@localhost\"" <<<"$status" || return 1
  done
  for node in "${NODES[@]}"; do amqp_up "${PORT[$node]}" || return 1; done
}

install_rabbitmq() {
  command -v rabbitmq-server >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 && return 0
  echo "== installing rabbitmq-server and openssl from Debian"
  local sudo=""
  [ "$AS_ROOT" -eq 1 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rabbitmq-server openssl >/dev/null
}

# A CA, a server certificate for localhost (and 127.0.0.1) and a client certificate, made once.
make_certificates() {
  local tls="$DIR/tls"
  [ -f "$tls/client-key.pem" ] && [ -f "$tls/other-ca.pem" ] && return 0
  echo "== making TLS certificates in $tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=multitask test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=another CA" \
      -keyout other-ca-key.pem -out other-ca.pem 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=multitask-client" -keyout client-key.pem -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 644 ./*.pem
  )
}

# Writes one node's config: the TLS listener (client certificates checked when given).
write_config() {
  local node="$1" base="$DIR/$1"
  mkdir -p "$base/log"
  echo '[].' >"$base/enabled_plugins"
  cat >"$base/rabbitmq.conf" <<EOF
listeners.ssl.default = 127.0.0.1:${TLS_PORT[$node]}
ssl_options.cacertfile = $DIR/tls/ca.pem
ssl_options.certfile = $DIR/tls/server.pem
ssl_options.keyfile = $DIR/tls/server-key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
EOF
}

# Starts one node in the background (no wait).
launch() {
  local node="$1" base="$DIR/$1"
  write_config "$node"
  [ "$AS_ROOT" -eq 1 ] && chown -R rabbitmq:rabbitmq "$DIR"
  (
    # See .ci/rabbitmq.sh: the file handle limit, loopback only, setpriv rather than su.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    export RABBITMQ_NODENAME="$node@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="${PORT[$node]}"
    export RABBITMQ_DIST_PORT="${DIST_PORT[$node]}"
    export RABBITMQ_MNESIA_BASE="$base/mnesia"
    export RABBITMQ_LOG_BASE="$base/log"
    export RABBITMQ_PID_FILE="$base/pid"
    export RABBITMQ_CONFIG_FILE="$base/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$base/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    if [ "$AS_ROOT" -eq 1 ]; then
      cd /var/lib/rabbitmq
      HOME=/var/lib/rabbitmq setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
        /usr/lib/rabbitmq/bin/rabbitmq-server -detached >/dev/null 2>&1 </dev/null
    else
      /usr/lib/rabbitmq/bin/rabbitmq-server -detached >/dev/null 2>&1 </dev/null
    fi
  )
}

# Waits until the node has booted (it waits for its cluster peers itself).
await_node() {
  local node="$1"
  for _ in $(seq 1 90); do
    ctl -q -n "$node@localhost" await_startup --timeout 120 >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "RabbitMQ node $node@localhost did not start (logs: $DIR/$node/log)" >&2
  return 1
}

# True when s1's cluster lists the node as a member (running or not).
is_member() {
  ctl -q -n s1@localhost cluster_status --formatter json 2>/dev/null | grep -q "\"disk_nodes\":\[[^]]*\"$1@localhost\""
}

node_running() { ctl -q -n "$1@localhost" ping >/dev/null 2>&1; }

stop_cluster() {
  for node in "${NODES[@]}"; do
    if node_running "$node"; then
      echo "== stopping $node@localhost"
      ctl -q -n "$node@localhost" stop >/dev/null 2>&1 || true
    fi
  done
}

start_one() {
  local node="$1"
  [ -n "${PORT[$node]:-}" ] || { echo "unknown node $node (s1, s2 or s3)" >&2; exit 2; }
  node_running "$node" || launch "$node"
  await_node "$node"
}

case "${1:-start}" in
  stop)
    stop_cluster
    exit 0
    ;;
  start)
    if [ -n "${2:-}" ]; then
      start_one "$2"
      exit 0
    fi
    ;;
  *)
    echo "usage: $0 [start [s1|s2|s3] | stop]" >&2
    exit 2
    ;;
esac

if cluster_up; then
  echo "== the RabbitMQ cluster already answers on 127.0.0.1:5681-5683"
  exit 0
fi

install_rabbitmq
make_certificates
echo "== starting RabbitMQ nodes s1, s2, s3 on 127.0.0.1:5681-5683 (TLS 5691-5693)"
# All at once: a node that was stopped with its peers waits for them at boot.
for node in "${NODES[@]}"; do node_running "$node" || launch "$node"; done
for node in "${NODES[@]}"; do await_node "$node"; done
for node in s2 s3; do
  if ! is_member "$node"; then
    echo "== $node@localhost joins s1@localhost"
    # Quietly: joining logs harmless errors about tables of a node that is not running yet.
    for step in stop_app reset "join_cluster s1@localhost" start_app; do
      # shellcheck disable=SC2086
      ctl -q -n "$node@localhost" $step >/dev/null 2>&1 || { echo "rabbitmqctl $step on $node failed" >&2; exit 1; }
    done
  fi
done
for _ in $(seq 1 60); do
  cluster_up && { echo "== the RabbitMQ cluster is up"; exit 0; }
  sleep 1
done
echo "the RabbitMQ cluster did not come up (logs: $DIR/*/log)" >&2
exit 1
