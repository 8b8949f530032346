"""Direct IO: WebSocket /api/v1/clusters/{id}/direct (issue 4 contract, "Direct IO").

One Fashion-MNIST image trained 100 times through JSON frames (one cluster) and through binary
frames (another), then requested: the argmax is its label. Malformed frames of every kind get
exactly one error reply each, in order, and the connection keeps working; failed train frames
train nothing. The upgrade needs credentials (401) and is refused for a cluster the caller may
not see exactly as for an unknown id (404)."""
import json
import math
import struct
import uuid

import pytest
import websocket

from conftest import PROBLEM_BASE, expect_problem
from ml_helpers import (OP_ERROR, OP_REQUEST, OP_TRAIN, Tenant, argmax, create_cluster,
                        direct_frame, fashion_item, get_cluster, normalised, one_hot,
                        parse_direct_reply, require_fashion, ws_binary, ws_connect, ws_json,
                        ws_nothing_more, ws_refusal, ws_upgrade_reply)

REPEATS = 100


@pytest.fixture(scope="module")
def owner(module_server):
    require_fashion()
    return Tenant(module_server)


@pytest.fixture(scope="module")
def image():
    pixels, label = fashion_item("train", 0)
    return pixels, label


def direct(server, tenant, cluster_id):
    return ws_connect(server, f"/clusters/{cluster_id}/direct", tenant.token)


def expect_json_error(reply, frame_id, status=400):
    assert set(reply) == {"id", "error"}, reply
    assert reply["id"] == frame_id, reply
    error = reply["error"]
    assert set(error) >= {"type", "title", "status", "detail"}, error
    assert error["status"] == status, error
    assert error["type"].startswith(PROBLEM_BASE), error
    assert isinstance(error["detail"], str) and error["detail"], error
    return error


def expect_binary_error(data, frame_id=None, status=400):
    reply = parse_direct_reply(data)
    assert reply["op"] == OP_ERROR, reply
    assert reply["status"] == status, reply
    if frame_id is not None:
        assert reply["id"] == frame_id, reply
    assert reply["message"], reply
    return reply


def test_json_frames_train_one_image(server, owner, image):
    pixels, label = image
    cluster = create_cluster(owner, "fashion-mnist")
    ws = direct(server, owner, cluster["id"])
    try:
        # Pipelined: every frame is sent before any reply is read; replies come in order.
        for i in range(REPEATS):
            if i % 2:
                frame = {"id": i, "op": "train", "inputs": pixels, "expected": one_hot(label)}
            else:
                frame = {"id": {"n": i}, "op": "train", "inputs": {"pixels": pixels},
                         "expected": {"classes": one_hot(label)}}
            ws.send(json.dumps(frame))
        for i in range(REPEATS):
            reply = ws_json(ws)
            assert reply == {"id": i if i % 2 else {"n": i}, "trained": True,
                             "samples_trained": i + 1}, reply
        ws.send(json.dumps({"id": "q", "op": "request", "inputs": pixels}))
        reply = ws_json(ws)
        assert set(reply) == {"id", "outputs"} and reply["id"] == "q", reply
        outputs = reply["outputs"]
        assert set(outputs) == {"classes"} and len(outputs["classes"]) == 10, reply
        assert argmax(outputs["classes"]) == label, outputs
        # The binary encoding on the same connection answers the same values.
        ws.send_binary(direct_frame(OP_REQUEST, 77, pixels))
        binary = parse_direct_reply(ws_binary(ws))
        assert (binary["op"], binary["id"]) == (OP_REQUEST | 0x80, 77), binary
        assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
                   for a, b in zip(binary["values"], outputs["classes"])), (binary, outputs)
        ws_nothing_more(ws, 0.3)
    finally:
        ws.close()
    assert get_cluster(owner, cluster["id"])["stats"]["samples_trained"] == REPEATS


def test_binary_frames_train_one_image(server, owner, image):
    pixels, label = image
    cluster = create_cluster(owner, "fashion-mnist")
    ws = direct(server, owner, cluster["id"])
    try:
        for i in range(REPEATS):
            ws.send_binary(direct_frame(OP_TRAIN, 1000 + i, pixels, one_hot(label)))
        for i in range(REPEATS):
            reply = parse_direct_reply(ws_binary(ws))
            assert reply == {"op": OP_TRAIN | 0x80, "status": 0, "id": 1000 + i,
                             "values": []}, reply
        ws.send_binary(direct_frame(OP_REQUEST, 0xFFFFFFFF, pixels))
        reply = parse_direct_reply(ws_binary(ws))
        assert (reply["op"], reply["id"]) == (OP_REQUEST | 0x80, 0xFFFFFFFF), reply
        assert len(reply["values"]) == 10 and argmax(reply["values"]) == label, reply
    finally:
        ws.close()
    assert get_cluster(owner, cluster["id"])["stats"]["samples_trained"] == REPEATS


def bad_json_frames(pixels, label):
    """(frame text, expected echoed id) for frames that must each get one error reply."""
    return [
        (json.dumps({"id": "short", "op": "request", "inputs": pixels[:-1]}), "short"),
        (json.dumps({"id": "long", "op": "request", "inputs": pixels + [0.0]}), "long"),
        (json.dumps({"id": "port", "op": "request", "inputs": {"nope": pixels}}), "port"),
        (json.dumps({"id": "exp", "op": "train", "inputs": pixels, "expected": [1.0] * 9}),
         "exp"),
        (json.dumps({"id": "noexp", "op": "train", "inputs": pixels}), "noexp"),
        (json.dumps({"id": "op", "op": "fly", "inputs": pixels}), "op"),
        (json.dumps({"id": "str", "op": "request", "inputs": ["a"] * 784}), "str"),
        (json.dumps({"id": "big", "op": "request", "inputs": [1e300] * 784}), "big"),
        ("this is not JSON", None),
        ("[1, 2, 3]", None),
        ('{"id": "cut", "op": "request", "inputs": [1, 2', None),
    ]


def bad_binary_frames(pixels, label):
    """(frame bytes, expected echoed id or None when the header is unreadable)."""
    good_train = direct_frame(OP_TRAIN, 5, pixels, one_hot(label))
    nan = list(pixels)
    nan[3] = float("nan")
    inf = list(pixels)
    inf[0] = float("inf")
    return [
        (direct_frame(OP_REQUEST, 11, pixels[:-1]), 11),                  # 783 inputs
        (direct_frame(OP_TRAIN, 12, pixels, one_hot(label, 11)), 12),     # 11 expected
        (direct_frame(OP_TRAIN, 13, pixels), 13),                         # train, no expected
        (direct_frame(OP_REQUEST, 14, nan), 14),                          # NaN
        (direct_frame(OP_TRAIN, 15, inf, one_hot(label)), 15),            # infinity
        (direct_frame(7, 16, pixels), 16),                                # unknown op
        (good_train[:5], None),                                           # truncated header
        (b"", None),                                                      # empty frame
        (good_train[:16], 5),                                             # header, no values
        (good_train[:-4], 5),                                             # one f32 short
        (good_train + b"\0\0\0\0", 5),                                    # one f32 too many
        (struct.pack("<BBHIII", OP_REQUEST, 0, 0, 17, 0xFFFFFFFF, 0) + b"\0" * 64, 17),  # lies
        (struct.pack("<BBHIII", OP_REQUEST, 9, 9, 18, 784, 0) +
         struct.pack("<784f", *pixels), 18),                               # reserved bytes set
    ]


def test_bad_frames_get_one_error_each_and_change_nothing(server, owner, image):
    pixels, label = image
    cluster = create_cluster(owner, "fashion-mnist")
    ws = direct(server, owner, cluster["id"])
    try:
        json_frames = bad_json_frames(pixels, label)
        binary_frames = bad_binary_frames(pixels, label)
        # All at once, interleaved with good requests, then the replies in order.
        for text, _ in json_frames:
            ws.send(text)
        ws.send(json.dumps({"id": "ok1", "op": "request", "inputs": pixels}))
        for data, _ in binary_frames:
            ws.send_binary(data)
        ws.send_binary(direct_frame(OP_REQUEST, 99, pixels))
        for text, frame_id in json_frames:
            reply = ws_json(ws)
            try:
                expect_json_error(reply, frame_id)
            except AssertionError as error:
                raise AssertionError(f"frame {text[:80]!r}: {error}") from None
        ok = ws_json(ws)
        assert ok["id"] == "ok1" and len(ok["outputs"]["classes"]) == 10, ok
        for data, frame_id in binary_frames:
            reply = ws_binary(ws)
            try:
                expect_binary_error(reply, frame_id)
            except AssertionError as error:
                raise AssertionError(f"frame {data[:20].hex()}… ({len(data)} bytes): {error}") \
                    from None
        ok = parse_direct_reply(ws_binary(ws))
        assert (ok["op"], ok["id"], len(ok["values"])) == (OP_REQUEST | 0x80, 99, 10), ok
        ws_nothing_more(ws, 0.5)
        # Still working after all of that.
        ws.send(json.dumps({"id": "t", "op": "train", "inputs": pixels,
                            "expected": one_hot(label)}))
        assert ws_json(ws) == {"id": "t", "trained": True, "samples_trained": 1}
    finally:
        ws.close()
    assert get_cluster(owner, cluster["id"])["stats"]["samples_trained"] == 1


def test_upgrade_needs_credentials(server, owner):
    cluster = create_cluster(owner, "fashion-mnist")
    path = f"/clusters/{cluster['id']}/direct"
    assert ws_refusal(server, path, None) == 401
    expect_problem(ws_upgrade_reply(server, path, None), 401, "unauthenticated")
    assert ws_refusal(server, path, "not.a.token") == 401


def test_invisible_cluster_is_refused_like_an_unknown_one(server, owner, image):
    pixels, _ = image
    cluster = create_cluster(owner, "fashion-mnist", name="secret-direct-cluster")
    path = f"/clusters/{cluster['id']}/direct"
    unknown = f"/clusters/{uuid.uuid4()}/direct"
    stranger = Tenant(server)                     # another project
    colleague = owner.colleague("member")          # same project, not the owner
    for caller in (stranger, colleague):
        assert ws_refusal(server, path, caller.token) == 404
        assert ws_refusal(server, unknown, caller.token) == 404
        refused = ws_upgrade_reply(server, path, caller.token)
        expect_problem(refused, 404, "not-found")
        fake = ws_upgrade_reply(server, unknown, caller.token)
        expect_problem(fake, 404, "not-found")
        assert normalised(refused.body) == normalised(fake.body), (refused, fake)
        text = json.dumps(refused.body)
        assert "secret-direct-cluster" not in text and owner.user["id"] not in text, refused
    # The project-admin of the same project may use it.
    boss = owner.colleague("project-admin")
    ws = direct(server, boss, cluster["id"])
    try:
        ws.send_binary(direct_frame(OP_REQUEST, 1, pixels))
        assert parse_direct_reply(ws_binary(ws))["op"] == OP_REQUEST | 0x80
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException):
        ws_connect(server, path, stranger.token)
