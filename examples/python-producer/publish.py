#!/usr/bin/env python3
"""Puts multitask jobs on a RabbitMQ queue from Python (pika), using only the documented
message format (docs/message-format.md) and queue arguments (docs/producers.md).

    python3 publish.py <amqp-url> <queue> <Task> < fields.jsonl     # one job per line of fields JSON
    echo '{"to": "a@b.c"}' | python3 publish.py amqp://guest:guest@127.0.0.1 emails SendEmail

Prints the id of every job the broker confirmed, one per line.
"""
import json
import sys
import uuid
from datetime import datetime, timezone

import pika

# What multitask declares (docs/producers.md): declaring the same lets a producer start first.
DELIVERY_LIMIT = 20  # multitask's default `deliveryLimit`; use the consumers' value
# Where RabbitMQ puts each queue's leader: multitask's default, balanced over a cluster's nodes.
# A queue keeps what it was made with: declare it as it was made, or RabbitMQ refuses.
LEADER_LOCATOR = "balanced"


def declare(channel, queue):
    failed = f"{queue}.failed"
    # The failed store's inbox: the broker dead-letters here. 1000000 is "no limit" on 3.x and 4.x.
    channel.queue_declare(
        failed,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-queue-leader-locator": LEADER_LOCATOR,
            "x-delivery-limit": 1000000,
        },
    )
    channel.queue_declare(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-queue-leader-locator": LEADER_LOCATOR,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": failed,
        },
    )


def main():
    if len(sys.argv) != 4:
        print("usage: publish.py <amqp-url> <queue> <Task> < fields.jsonl", file=sys.stderr)
        return 2
    url, queue, task = sys.argv[1:]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # basic_publish now raises unless the broker confirms
        declare(channel, queue)
        for line in sys.stdin:
            if not line.strip():
                continue
            fields = json.loads(line)
            if not isinstance(fields, dict):
                raise SystemExit(f"fields must be a JSON object, got {line.strip()}")
            body = {
                "v": 1,
                "id": str(uuid.uuid4()),
                "task": task,
                "fields": fields,
                "attempts": 3,
                "dispatchedAt": datetime.now(timezone.utc).isoformat(),
            }
            channel.basic_publish(
                exchange="",
                routing_key=queue,
                body=json.dumps(body).encode(),
                properties=pika.BasicProperties(
                    delivery_mode=2,  # persistent
                    content_type="application/json",
                    message_id=body["id"],  # the same id as the body's
                ),
                mandatory=True,  # an unroutable message raises instead of vanishing
            )
            print(body["id"], flush=True)
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
