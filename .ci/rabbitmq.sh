#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers on 127.0.0.1:5672 (guest/guest): installs Debian's
# rabbitmq-server when missing, starts it bound to loopback only, and waits for it.
set -euo pipefail

amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if amqp_up; then
  echo "== RabbitMQ already answers on 127.0.0.1:5672"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "== installing rabbitmq-server from Debian"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
fi

echo "== starting RabbitMQ on 127.0.0.1"
# RabbitMQ 3.10 hands each connection a handle from its file handle cache, sized from the
# open-file limit: at the default 1024, a few hundred quorum queues (the tests create and
# delete many) exhaust it and new connections hang in their handshake. Raise it to the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
# The inter-node (distribution) port listens on loopback too; epmd as well.
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
# Debian's wrapper switches user with su, whose PAM limits put the 1024 back: as root, switch
# with setpriv instead, which keeps the raised limit.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 && id rabbitmq >/dev/null 2>&1; then
  (cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
    /usr/lib/rabbitmq/bin/rabbitmq-server -detached >/dev/null 2>&1 </dev/null) ||
    rabbitmq-server -detached >/dev/null 2>&1 </dev/null
else
  rabbitmq-server -detached >/dev/null 2>&1 </dev/null
fi
# await_startup needs the node to exist first: give it a moment, then wait for real.
for _ in $(seq 1 60); do
  rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 && break
  sleep 1
done
for _ in $(seq 1 60); do
  amqp_up && { echo "== RabbitMQ is up"; exit 0; }
  sleep 1
done
echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2
exit 1
