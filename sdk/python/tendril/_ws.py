"""WebSocket sessions of the API: the event stream (`/events`), a task's events
(`/tasks/{id}/events`), direct IO with a cluster (`/clusters/{id}/direct`, JSON and binary
frames) and the frame reader they share. Each session is a context manager that closes its
socket."""
from __future__ import annotations

import json
import struct
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import ApiError, ConnectionFailed, ProtocolError, RequestTimeout, api_error
from .types import Port

Values = Union[Sequence[float], Mapping[str, Sequence[float]]]

OP_REQUEST = 1
OP_TRAIN = 2
OP_ERROR = 0xFF
NORMAL_CLOSE = 1000


class Closed(ConnectionFailed):
    """The server closed the WebSocket; `code` is its close code (None when not given)."""

    def __init__(self, code: Optional[int], reason: str = ""):
        self.code = code
        self.reason = reason
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")


class Socket:
    """A thin wrapper over a `websocket.WebSocket`: whole messages in, close codes and timeouts
    as SDK exceptions."""

    def __init__(self, ws: Any):
        self.ws = ws

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the socket (politely: close frame 1000)."""
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket has nothing left to report
            pass

    def send_text(self, message: Any) -> None:
        """Sends `message` as one JSON text frame."""
        self._send(lambda: self.ws.send(json.dumps(message)))

    def send_binary(self, data: bytes) -> None:
        """Sends `data` as one binary frame."""
        import websocket
        self._send(lambda: self.ws.send(data, opcode=websocket.ABNF.OPCODE_BINARY))

    def _send(self, action: Any) -> None:
        import websocket
        try:
            action()
        except (OSError, websocket.WebSocketException) as error:
            raise ConnectionFailed(f"WebSocket send: {error}") from error

    def receive(self, timeout: Optional[float] = None) -> Tuple[bool, bytes]:
        """The next whole message as (is_binary, data); answers pings. Raises `Closed` on a
        close frame, `RequestTimeout` when nothing arrives within `timeout`."""
        import websocket
        if timeout is not None:
            self.ws.settimeout(timeout)
        parts: List[bytes] = []
        binary: Optional[bool] = None
        while True:
            try:
                frame = self.ws.recv_frame()
            except websocket.WebSocketTimeoutException as error:
                raise RequestTimeout("no WebSocket message within the timeout") from error
            except websocket.WebSocketConnectionClosedException as error:
                raise Closed(None, "connection lost") from error
            except OSError as error:
                raise ConnectionFailed(f"WebSocket receive: {error}") from error
            opcode = frame.opcode
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                try:
                    self.ws.send_close(code or NORMAL_CLOSE)
                except Exception:  # noqa: BLE001 - the peer may be gone already
                    pass
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if opcode == websocket.ABNF.OPCODE_PING:
                try:
                    self.ws.pong(frame.data)
                except OSError:
                    pass
                continue
            if opcode == websocket.ABNF.OPCODE_PONG:
                continue
            if binary is None:
                binary = opcode == websocket.ABNF.OPCODE_BINARY
            data = frame.data
            parts.append(data if isinstance(data, bytes) else data.encode())
            if frame.fin:
                return binary, b"".join(parts)

    def receive_json(self, timeout: Optional[float] = None) -> Any:
        """The next message, which must be a JSON text frame, parsed."""
        binary, data = self.receive(timeout)
        if binary:
            raise ProtocolError(f"expected a JSON text message, got {len(data)} binary bytes")
        try:
            return json.loads(data.decode())
        except ValueError as error:
            raise ProtocolError(f"a WebSocket text message is not JSON: {error}") from None


class EventStream(Socket):
    """`GET /api/v1/events`: audit entries and task changes the caller may see, as
    `{"type": "audit" | "task", "entry": {...}}`. Iterate it, or call `next_event`."""

    def next_event(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The next event (`{"type", "entry"}`, or a `pong`)."""
        return self.receive_json(timeout)

    def ping(self, timeout: Optional[float] = None) -> None:
        """Sends `{"type": "ping"}` and waits for the pong (events before it are dropped)."""
        self.send_text({"type": "ping"})
        while self.receive_json(timeout).get("type") != "pong":
            continue

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        while True:
            try:
                yield self.next_event()
            except Closed:
                return


def direct_problem(body: Mapping[str, Any]) -> ApiError:
    """The exception for a direct-IO error reply (JSON form)."""
    problem = dict(body.get("error") or {})
    return api_error(int(problem.get("status") or 500), problem)


class DirectSession(Socket):
    """Direct IO with one cluster: each `train` is one training cycle, each `request` one
    inference, answered in order. `binary=True` uses the compact binary frames (values as
    32-bit floats), otherwise JSON text frames. Inputs and expected values are either one flat
    list in port order or `{port: [values]}`; outputs come back as `{port: [values]}` in both
    encodings."""

    def __init__(self, ws: Any, inputs: List[Port], outputs: List[Port], binary: bool = False,
                 timeout: float = 30.0):
        super().__init__(ws)
        self.inputs = inputs
        self.outputs = outputs
        self.binary = binary
        self.timeout = timeout
        self._next_id = 0

    def __enter__(self) -> "DirectSession":
        return self

    @staticmethod
    def _flat(values: Values, ports: List[Port], what: str) -> List[float]:
        if isinstance(values, Mapping):
            flat: List[float] = []
            for port in ports:
                if port["name"] not in values:
                    raise ValueError(f"{what}: no values for port {port['name']!r}")
                flat.extend(float(v) for v in values[port["name"]])
            return flat
        return [float(v) for v in values]

    def _by_port(self, flat: Sequence[float]) -> Dict[str, List[float]]:
        result, start = {}, 0
        for port in self.outputs:
            result[port["name"]] = list(flat[start:start + port["width"]])
            start += port["width"]
        return result

    def send_train(self, inputs: Values, expected: Values) -> int:
        """Sends a train frame without waiting (pipelining); returns its id. Read the reply
        with `receive_reply`."""
        return self._send_frame(OP_TRAIN, inputs, expected)

    def send_request(self, inputs: Values) -> int:
        """Sends a request frame without waiting; returns its id."""
        return self._send_frame(OP_REQUEST, inputs, None)

    def _send_frame(self, op: int, inputs: Values, expected: Optional[Values]) -> int:
        self._next_id += 1
        frame_id = self._next_id
        flat_in = self._flat(inputs, self.inputs, "inputs")
        flat_exp = self._flat(expected, self.outputs, "expected") if expected is not None else []
        if self.binary:
            self.send_binary(struct.pack("<BBHIII", op, 0, 0, frame_id, len(flat_in),
                                         len(flat_exp)) +
                             struct.pack(f"<{len(flat_in)}f", *flat_in) +
                             struct.pack(f"<{len(flat_exp)}f", *flat_exp))
        else:
            frame: Dict[str, Any] = {"id": frame_id,
                                     "op": "train" if op == OP_TRAIN else "request",
                                     "inputs": flat_in}
            if expected is not None:
                frame["expected"] = flat_exp
            self.send_text(frame)
        return frame_id

    def receive_reply(self) -> Dict[str, Any]:
        """The next reply: `{"id", "outputs": {port: values}}` for a request,
        `{"id", "trained": True, "samples_trained"?}` for a train frame. An error reply raises
        the ApiError of its problem (the connection stays usable)."""
        binary, data = self.receive(self.timeout)
        if not binary:
            try:
                reply = json.loads(data.decode())
            except ValueError as error:
                raise ProtocolError(f"direct reply is not JSON: {error}") from None
            if "error" in reply:
                raise direct_problem(reply)
            return reply
        if len(data) < 12:
            raise ProtocolError(f"binary direct reply shorter than its header: {data!r}")
        op, _, status, frame_id, count = struct.unpack_from("<BBHII", data)
        if op == OP_ERROR:
            detail = data[12:12 + count].decode("utf-8", "replace")
            raise api_error(status, {"status": status, "detail": detail, "id": frame_id})
        if len(data) != 12 + 4 * count:
            raise ProtocolError(f"binary direct reply of {len(data)} bytes declares {count} "
                                f"values")
        values = list(struct.unpack_from(f"<{count}f", data, 12))
        if op == (OP_REQUEST | 0x80):
            return {"id": frame_id, "outputs": self._by_port(values)}
        return {"id": frame_id, "trained": True}

    def train(self, inputs: Values, expected: Values) -> Dict[str, Any]:
        """One training cycle towards `expected`; returns the reply (JSON frames carry the
        cluster's `samples_trained`)."""
        self.send_train(inputs, expected)
        return self.receive_reply()

    def request(self, inputs: Values) -> Dict[str, List[float]]:
        """The cluster's outputs for `inputs`, by port."""
        self.send_request(inputs)
        return self.receive_reply()["outputs"]

    def train_many(self, samples: Sequence[Tuple[Values, Values]], window: int = 32) -> int:
        """Trains on every (inputs, expected) pair with up to `window` frames in flight;
        returns how many were trained. The first error raises (later replies are read off)."""
        sent = received = 0
        first_error: Optional[ApiError] = None
        while received < len(samples):
            while sent < len(samples) and sent - received < window:
                self.send_train(*samples[sent])
                sent += 1
            try:
                self.receive_reply()
            except ApiError as error:
                first_error = first_error or error
            received += 1
        if first_error is not None:
            raise first_error
        return received
