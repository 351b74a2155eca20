<?php
// Puts multitask jobs on a RabbitMQ queue from PHP (the pecl `amqp` extension, Debian's
// php-amqp), using only the documented message format (docs/message-format.md) and queue
// arguments (docs/producers.md).
//
//   php publish.php <amqp-url> <queue> <Task> < fields.jsonl     # one job per line of fields JSON
//   echo '{"to": "a@b.c"}' | php publish.php amqp://guest:guest@127.0.0.1 emails SendEmail
//
// Prints the id of every job the broker confirmed, one per line.

// What multitask declares (docs/producers.md): declaring the same lets a producer start first.
const DELIVERY_LIMIT = 20; // multitask's default `deliveryLimit`; use the consumers' value

if ($argc !== 4) {
    fwrite(STDERR, "usage: publish.php <amqp-url> <queue> <Task> < fields.jsonl\n");
    exit(2);
}
[, $url, $queue, $task] = $argv;
$parts = parse_url($url);
$connection = new AMQPConnection([
    'host' => $parts['host'] ?? '127.0.0.1',
    'port' => $parts['port'] ?? 5672,
    'login' => urldecode($parts['user'] ?? 'guest'),
    'password' => urldecode($parts['pass'] ?? 'guest'),
    'vhost' => isset($parts['path']) && $parts['path'] !== '/' ? urldecode(substr($parts['path'], 1)) : '/',
]);
$connection->connect();
$channel = new AMQPChannel($connection);
$channel->confirmSelect();
// One job at a time: each waitForConfirm() returns once the broker acked the last publish.
$published = 0;
$channel->setConfirmCallback(
    function (int $tag, bool $multiple) use (&$published) {
        return $tag < $published; // false: the awaited publish is confirmed, stop waiting
    },
    function (int $tag) {
        throw new RuntimeException("the broker refused job number $tag");
    },
);

$failed = new AMQPQueue($channel);
$failed->setName("$queue.failed");
$failed->setFlags(AMQP_DURABLE);
// The failed store's inbox: the broker dead-letters here. 1000000 is "no limit" on 3.x and 4.x.
// Leaders balanced over a cluster's nodes, as multitask declares them; a queue keeps what it
// was made with: declare it as it was made, or RabbitMQ refuses.
$failed->setArguments([
    'x-queue-type' => 'quorum',
    'x-queue-leader-locator' => 'balanced',
    'x-delivery-limit' => 1000000,
]);
$failed->declareQueue();
$main = new AMQPQueue($channel);
$main->setName($queue);
$main->setFlags(AMQP_DURABLE);
$main->setArguments([
    'x-queue-type' => 'quorum',
    'x-queue-leader-locator' => 'balanced',
    'x-dead-letter-strategy' => 'at-least-once',
    'x-overflow' => 'reject-publish',
    'x-delivery-limit' => DELIVERY_LIMIT,
    'x-dead-letter-exchange' => '',
    'x-dead-letter-routing-key' => "$queue.failed",
]);
$main->declareQueue();

$exchange = new AMQPExchange($channel); // the default exchange: routing key = queue name
while (($line = fgets(STDIN)) !== false) {
    if (trim($line) === '') {
        continue;
    }
    // Decode to objects, not arrays: an empty PHP array would encode as [] and be refused.
    $fields = json_decode($line, false, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
    if (!is_object($fields)) {
        fwrite(STDERR, "fields must be a JSON object, got $line");
        exit(1);
    }
    $id = bin2hex(random_bytes(16));
    $body = [
        'v' => 1,
        'id' => $id,
        'task' => $task,
        'fields' => $fields,
        'attempts' => 3,
        'dispatchedAt' => gmdate('Y-m-d\TH:i:s\Z'),
    ];
    $exchange->publish(
        json_encode($body, JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION | JSON_UNESCAPED_SLASHES),
        $queue,
        AMQP_MANDATORY,
        ['delivery_mode' => 2, 'content_type' => 'application/json', 'message_id' => $id],
    );
    $published++;
    $channel->waitForConfirm(10); // throws unless the broker confirms
    echo $id, "\n";
}
$connection->disconnect();
