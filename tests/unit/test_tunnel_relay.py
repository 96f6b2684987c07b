"""Relay.join: the two sides of a tunnelled connection, on in-memory transports."""

from __future__ import annotations

from types import SimpleNamespace

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from txi2p.tunnel import Relay


def _relay():
    relay = Relay(SimpleNamespace(timeout=None, reactor=Clock(), name="t"))
    incoming, outgoing = StringTransport(), StringTransport()
    relay.incoming.makeConnection(incoming)
    return relay, incoming, outgoing


def test_incoming_side_waits_paused_and_keeps_what_came_early():
    relay, incoming, outgoing = _relay()
    assert incoming.producerState == "paused"  # nothing read until the other side is up
    relay.incoming.dataReceived(b"early ")
    relay.incoming.dataReceived(b"bytes")
    relay.outgoing.makeConnection(outgoing)
    relay.join()
    assert outgoing.value() == b"early bytes"
    assert incoming.producerState == "producing"
    assert relay.bytes == {"in": 11, "out": 0}


def test_join_relays_both_ways():
    relay, incoming, outgoing = _relay()
    relay.outgoing.makeConnection(outgoing)
    relay.join()
    relay.incoming.dataReceived(b"request")
    relay.outgoing.dataReceived(b"reply")
    assert outgoing.value() == b"request" and incoming.value() == b"reply"


def test_each_side_is_the_others_streaming_producer():
    """A full write buffer on one side pauses reading on the other (flow control)."""
    relay, incoming, outgoing = _relay()
    relay.outgoing.makeConnection(outgoing)
    relay.join()
    assert outgoing.producer is incoming and outgoing.streaming
    assert incoming.producer is outgoing and incoming.streaming
    outgoing.producer.pauseProducing()  # what a transport does when its buffer is full
    assert incoming.producerState == "paused"
    outgoing.producer.resumeProducing()
    assert incoming.producerState == "producing"
