#!/usr/bin/env bash
# Installs the interpreters the producer examples need (examples/python-producer,
# examples/php-producer) from Debian when they are missing: python3-pika, php-cli, php-amqp.
set -euo pipefail

have_python() { /usr/bin/python3 -c 'import pika' >/dev/null 2>&1; }
have_php() { php -r 'exit(class_exists("AMQPConnection") ? 0 : 1);' >/dev/null 2>&1; }

if have_python && have_php; then
  echo "== producer interpreters present (python3-pika, php-amqp)"
  exit 0
fi
echo "== installing python3-pika php-cli php-amqp from Debian"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pika php-cli php-amqp >/dev/null
have_python && have_php
