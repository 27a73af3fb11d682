"""Kafka clients through `brooklet serve` over TLS, mTLS and SASL (PLAIN, SCRAM-SHA-512),
with certificates made in the test by trustme: each produces, consumes and reads back."""

import os
import tempfile

import pytest
import trustme
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition

from conftest import brooklet, serving

USERS = "alice:wonder:land\nbob:builder\n"


@pytest.fixture
def pki():
    """A server CA with a certificate for 127.0.0.1, a client CA with a client certificate,
    and a users file, all written as files."""
    with tempfile.TemporaryDirectory() as tmp:
        server_ca = trustme.CA()
        client_ca = trustme.CA()
        server = server_ca.issue_cert("127.0.0.1", "localhost")
        client = client_ca.issue_cert("client.example")
        files = {}

        def write(name, blobs):
            files[name] = os.path.join(tmp, name)
            with open(files[name], "wb") as f:
                for blob in blobs:
                    f.write(blob.bytes())

        write("ca.pem", [server_ca.cert_pem])
        write("server.pem", server.cert_chain_pems)
        write("server.key", [server.private_key_pem])
        write("client-ca.pem", [client_ca.cert_pem])
        write("client.pem", client.cert_chain_pems)
        write("client.key", [client.private_key_pem])
        files["users"] = os.path.join(tmp, "users.txt")
        with open(files["users"], "w") as f:
            f.write(USERS)
        yield files


def tls_options(pki):
    return ["--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"]]


def round_trip(served, config, topic):
    """confluent-kafka with `config` produces 20 records and consumes them back; the CLI
    reads the same."""
    brooklet("topic", "create", served.path, topic)
    base = {"bootstrap.servers": served.bootstrap, **config}
    producer = Producer({**base, "acks": "all"})
    values = [f"{topic} {i}".encode() for i in range(20)]
    for value in values:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({**base, "group.id": f"g-{topic}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in range(400):
        message = consumer.poll(0.1)
        if message is not None:
            assert message.error() is None, message.error()
            got.append(message.value())
        if len(got) == len(values):
            break
    consumer.close()
    assert got == values
    out = brooklet("consume", served.path, topic, "--from-beginning")
    assert out.decode().splitlines() == [v.decode() for v in values]


def test_confluent_kafka_over_tls(pki):
    with serving(*tls_options(pki)) as served:
        round_trip(served, {"security.protocol": "SSL", "ssl.ca.location": pki["ca.pem"]}, "ssl")


def test_confluent_kafka_over_mtls(pki):
    options = [*tls_options(pki), "--tls-client-ca", pki["client-ca.pem"]]
    with serving(*options) as served:
        round_trip(served, {
            "security.protocol": "SSL",
            "ssl.ca.location": pki["ca.pem"],
            "ssl.certificate.location": pki["client.pem"],
            "ssl.key.location": pki["client.key"],
        }, "mtls")
        # Without a client certificate, the client gets nothing.
        producer = Producer({
            "bootstrap.servers": served.bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": pki["ca.pem"],
            "message.timeout.ms": 3000,
        })
        with pytest.raises(KafkaException):
            producer.list_topics(timeout=3)


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "wonder:land"),
    ("SCRAM-SHA-512", "bob", "builder"),
])
def test_confluent_kafka_over_sasl_ssl(pki, mechanism, user, password):
    options = [*tls_options(pki), "--sasl-users", pki["users"]]
    with serving(*options) as served:
        base = {
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": pki["ca.pem"],
            "sasl.mechanisms": mechanism,
            "sasl.username": user,
        }
        round_trip(served, {**base, "sasl.password": password}, mechanism.lower())
        # A wrong password is refused.
        producer = Producer({"bootstrap.servers": served.bootstrap, **base,
                             "sasl.password": password + "x"})
        with pytest.raises(KafkaException):
            producer.list_topics(timeout=3)


def test_kafka_python_over_tls_and_sasl_plaintext(pki):
    with serving(*tls_options(pki)) as served:
        brooklet("topic", "create", served.path, "kp")
        security = {"security_protocol": "SSL", "ssl_cafile": pki["ca.pem"]}
        kafka_python_round_trip(served, security, "kp")
    with serving("--sasl-users", pki["users"]) as served:
        brooklet("topic", "create", served.path, "kp")
        security = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
                    "sasl_plain_username": "bob", "sasl_plain_password": "builder"}
        kafka_python_round_trip(served, security, "kp")


def kafka_python_round_trip(served, security, topic):
    producer = KafkaProducer(bootstrap_servers=served.bootstrap, acks="all", **security)
    for i in range(10):
        producer.send(topic, value=f"kp {i}".encode(), partition=0)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=served.bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=10_000, **security)
    consumer.assign([KafkaTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    for message in consumer:
        got.append(message.value)
        if len(got) == 10:
            break
    consumer.close()
    assert got == [f"kp {i}".encode() for i in range(10)]
    out = brooklet("consume", served.path, topic, "--from-beginning")
    assert out.decode().splitlines() == [f"kp {i}" for i in range(10)]
