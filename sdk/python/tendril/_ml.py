"""Resource groups for the ML resources: clusters (with direct IO), datasets (with resumable
chunked uploads over HTTP or one WebSocket), results and checkpoints (with resumable uploads and
streamed downloads)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

from ._accounts import Group
from ._http import Blob, quote_segment as seg
from ._tasks import Task
from ._ws import DirectSession, Socket
from .errors import (ConnectionFailed, FailedPrecondition, PayloadTooLarge, ProtocolError,
                     api_error)
from .types import (Accuracy, Checkpoint, Cluster, Dataset, OutputPage, Page, PartState,
                    Result, Template)

Source = Union[str, Path, bytes, bytearray, memoryview]
UploadProgress = Callable[[str, int, int], None]  # (part, bytes received, part size)
DEFAULT_CHUNK = 1 << 20  # the server's default max_body_bytes
MIN_CHUNK = 1024
WS_FRAME = 512 * 1024  # below the default ws_max_message_bytes (1 MiB)
WS_WINDOW = 4
MAX_RESUMES = 20  # dropped connections tolerated by one upload


def send_chunks(put: Callable[[int, bytes], Dict[str, Any]], where: Callable[[], int],
                blob: Blob, label: str, progress: Optional[UploadProgress],
                chunk_size: int) -> None:
    """Uploads `blob` with `put(offset, bytes)` from the server's resume point `where()`.
    After a dropped connection or an offset conflict it asks the server again and continues;
    a 413 halves the chunk size."""
    offset = where()
    resumes = 0
    while offset < blob.size:
        piece = blob.read(offset, chunk_size)
        try:
            offset = int(put(offset, piece)["received"])
            if progress is not None:
                progress(label, offset, blob.size)
        except PayloadTooLarge:
            if chunk_size <= MIN_CHUNK:
                raise
            chunk_size = max(MIN_CHUNK, chunk_size // 2)
            continue
        except ConnectionFailed:
            resumes += 1
            if resumes > MAX_RESUMES:
                raise
            offset = where()  # the chunk may or may not have landed
        except FailedPrecondition:
            resume_at = where()  # someone else moved the upload on, or it is over
            if resume_at == offset:
                raise
            offset = resume_at


def _text(template: Union[str, Path, Mapping[str, Any]]) -> str:
    """A template as the API takes it: Hanami text, read from a path, or a dict as JSON."""
    if isinstance(template, Path):
        return template.read_text()
    if isinstance(template, Mapping):
        return json.dumps(template)
    return template


class Clusters(Group):
    """`/clusters`: growing networks built from templates (docs/templates.md)."""

    def create(self, name: str, template: Union[str, Path, Mapping[str, Any]]) -> Cluster:
        """Creates a cluster from a template: Hanami text, a path to a template file, or the
        JSON form as a dict."""
        return self._t.call_json("POST", "/clusters", json_body={"name": name,
                                                                 "template": _text(template)},
                                 idempotency_key=True)

    def get(self, cluster_id: str) -> Cluster:
        """The cluster with live stats."""
        return self._t.call_json("GET", f"/clusters/{seg(cluster_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Cluster]:
        """One page of the clusters the caller may see."""
        return self._page("/clusters", limit, cursor)

    def iter(self, page_size: int = 200) -> Iterator[Cluster]:
        """Every cluster the caller may see."""
        return self._iter("/clusters", page_size)

    def rename(self, cluster_id: str, name: str) -> Cluster:
        """`PATCH /clusters/{id}`."""
        return self._t.call_json("PATCH", f"/clusters/{seg(cluster_id)}",
                                 json_body={"name": name})

    def delete(self, cluster_id: str) -> None:
        """Deletes it after cancelling its tasks (saved checkpoints stay)."""
        self._t.call_json("DELETE", f"/clusters/{seg(cluster_id)}")

    def check_template(self, template: Union[str, Path, Mapping[str, Any]]) -> Dict[str, Any]:
        """`POST /templates/check`: parses a template without creating anything; returns
        `{"inputs", "outputs", "bricks", "neurons", "json"}`, or raises InvalidInput naming the
        line or JSON path."""
        return self._t.call_json("POST", "/templates/check", json_body={"template": _text(template)})

    def template(self, cluster_id: str) -> Template:
        """The template as sent (`text`) and as JSON with every setting (`json`)."""
        return self._t.call_json("GET", f"/clusters/{seg(cluster_id)}/template")

    def restore(self, cluster_id: str, checkpoint_id: str) -> Task:
        """Queues a restore of a checkpoint into the cluster (a task of type `restore`)."""
        data = self._t.call_json("POST", f"/clusters/{seg(cluster_id)}/restore",
                                 json_body={"checkpoint_id": checkpoint_id},
                                 idempotency_key=True)
        return Task(self._client, data)

    def direct(self, cluster_id: str, binary: bool = False,
               timeout: Optional[float] = None) -> DirectSession:
        """A direct-IO session with the cluster (use it as a context manager): `train(inputs,
        expected)` and `request(inputs)` one sample at a time. `binary` picks the binary
        frame encoding."""
        cluster = self.get(cluster_id)
        ws = self._t.websocket(f"/clusters/{seg(cluster_id)}/direct", timeout=timeout)
        return DirectSession(ws, cluster["inputs"], cluster["outputs"], binary,
                             timeout or self._t.timeout)


class Datasets(Group):
    """`/datasets`: training and test data, uploaded in resumable chunks and validated once."""

    def create(self, name: str, format: str, parts: Mapping[str, Mapping[str, Any]],
               classes: Optional[int] = None) -> Dataset:
        """Declares a dataset: `parts` maps each part to `{"size", "sha256"}`."""
        body: Dict[str, Any] = {"name": name, "format": format, "parts": dict(parts)}
        if classes is not None:
            body["classes"] = classes
        return self._t.call_json("POST", "/datasets", json_body=body, idempotency_key=True)

    def get(self, dataset_id: str) -> Dataset:
        """A dataset (its state, parts and, once ready, its shape)."""
        return self._t.call_json("GET", f"/datasets/{seg(dataset_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Dataset]:
        """One page of the datasets the caller may see."""
        return self._page("/datasets", limit, cursor)

    def iter(self, page_size: int = 200) -> Iterator[Dataset]:
        """Every dataset the caller may see."""
        return self._iter("/datasets", page_size)

    def delete(self, dataset_id: str) -> None:
        """Deletes a dataset and its files (409 while a task uses it)."""
        self._t.call_json("DELETE", f"/datasets/{seg(dataset_id)}")

    def part(self, dataset_id: str, part: str) -> PartState:
        """Where an upload stands: `{"part", "size", "received", "sha256"}`."""
        return self._t.call_json("GET", f"/datasets/{seg(dataset_id)}/parts/{seg(part)}")

    def put_chunk(self, dataset_id: str, part: str, offset: int, data: bytes) -> PartState:
        """Appends `data` at `offset` (which must be the part's `received`). Not retried
        automatically: `upload` and `resume` ask the server where to go on."""
        return self._t.call_json("PUT", f"/datasets/{seg(dataset_id)}/parts/{seg(part)}",
                                 query={"offset": offset}, raw=data, retries=0)

    def finalize(self, dataset_id: str) -> Dataset:
        """Validates the uploaded parts and stores the compact form: state `ready`."""
        return self._t.call_json("POST", f"/datasets/{seg(dataset_id)}/finalize",
                                 idempotent=True)

    def download(self, dataset_id: str, part: Optional[str] = None,
                 path: Union[str, Path, None] = None) -> Union[bytes, Path]:
        """A ready dataset's part (IDX uncompressed, or the CSV table): the bytes, or streamed
        into the file `path` (returned)."""
        return download(self._t, f"/datasets/{seg(dataset_id)}/download", {"part": part}, path)

    def upload(self, source: Union[Source, Mapping[str, Source]], name: Optional[str] = None,
               format: Optional[str] = None, classes: Optional[int] = None,
               progress: Optional[UploadProgress] = None, chunk_size: int = DEFAULT_CHUNK,
               websocket: bool = False) -> Dataset:
        """Creates a dataset, uploads every part and finalizes it; returns it `ready`.

        `source` is a CSV file (path or bytes) or `{part: path or bytes}`: `{"images",
        "labels"}` for IDX (plain or gzip), `{"table"}` for CSV. `format` is inferred from the
        parts when not given; `name` defaults to the file's stem. `progress(part, received,
        size)` follows the upload. A dropped connection is resumed from the offset the server
        reports. `websocket=True` sends the parts over one WebSocket instead of HTTP PUTs."""
        blobs = {p: Blob(s) for p, s in (source.items() if isinstance(source, Mapping)
                                         else [("table", source)])}
        format = format or ("csv" if set(blobs) == {"table"} else "idx")
        name = name or next(iter(blobs.values())).name
        dataset = self.create(name, format, {p: {"size": b.size, "sha256": b.sha256}
                                             for p, b in blobs.items()}, classes)
        return self._send_and_finalize(dataset["id"], blobs, progress, chunk_size, websocket)

    def resume(self, dataset_id: str, parts: Mapping[str, Source],
               progress: Optional[UploadProgress] = None, chunk_size: int = DEFAULT_CHUNK,
               websocket: bool = False) -> Dataset:
        """Continues an interrupted upload (e.g. after the client process died) from what the
        server has received, then finalizes."""
        blobs = {p: Blob(s) for p, s in parts.items()}
        return self._send_and_finalize(dataset_id, blobs, progress, chunk_size, websocket)

    def _send_and_finalize(self, dataset_id: str, blobs: Mapping[str, Blob],
                           progress: Optional[UploadProgress], chunk_size: int,
                           websocket: bool) -> Dataset:
        for part, blob in blobs.items():
            if websocket:
                self._send_ws(dataset_id, part, blob, progress)
            else:
                send_chunks(lambda offset, data, p=part: self.put_chunk(dataset_id, p, offset,
                                                                         data),
                            lambda p=part: int(self.part(dataset_id, p)["received"]),
                            blob, part, progress, chunk_size)
        return self.finalize(dataset_id)

    def _send_ws(self, dataset_id: str, part: str, blob: Blob,
                 progress: Optional[UploadProgress]) -> None:
        """One part over `WS /datasets/{id}/upload`: select at `received`, then frames with a
        few in flight, each reply checked in order."""
        received = int(self.part(dataset_id, part)["received"])
        with Socket(self._t.websocket(f"/datasets/{seg(dataset_id)}/upload")) as ws:
            ws.send_text({"part": part, "offset": received})
            check_ws_reply(ws.receive_json())
            offset, pending = received, 0
            while received < blob.size:
                while offset < blob.size and pending < WS_WINDOW:
                    piece = blob.read(offset, WS_FRAME)
                    ws.send_binary(piece)
                    offset += len(piece)
                    pending += 1
                received = int(check_ws_reply(ws.receive_json())["received"])
                pending -= 1
                if progress is not None:
                    progress(part, received, blob.size)


def check_ws_reply(reply: Any) -> Dict[str, Any]:
    """An upload WebSocket reply, or its error raised as the ApiError of its problem."""
    if not isinstance(reply, dict):
        raise ProtocolError(f"unexpected upload reply {reply!r}")
    if "error" in reply:
        problem = dict(reply["error"])
        raise api_error(int(problem.get("status") or 500), problem)
    return reply


def download(transport: Any, path: str, query: Optional[Mapping[str, Any]],
             target: Union[str, Path, None]) -> Union[bytes, Path]:
    """GET a file: its bytes, or streamed into `target` (returned as a Path)."""
    if target is None:
        return transport.request("GET", path, query=query).body
    target = Path(target)
    transport.request("GET", path, query=query, sink=target)
    return target


class Results(Group):
    """`/results`: the outputs of request tasks (a result's id is its task's id)."""

    def get(self, result_id: str) -> Result:
        """A result's description: count, output ports, its task, cluster and dataset."""
        return self._t.call_json("GET", f"/results/{seg(result_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Result]:
        """One page of results, oldest first."""
        return self._page("/results", limit, cursor)

    def iter(self, page_size: int = 200) -> Iterator[Result]:
        """Every result the caller may see."""
        return self._iter("/results", page_size)

    def outputs(self, result_id: str, offset: int = 0, limit: int = 100) -> OutputPage:
        """Rows `offset`.. of the outputs: `{"items": [{"index", "values"}], "next_offset"}`."""
        return self._t.call_json("GET", f"/results/{seg(result_id)}/outputs",
                                 query={"offset": offset, "limit": limit})

    def iter_outputs(self, result_id: str, page_size: int = 1000) -> Iterator[List[float]]:
        """Every row's values, in the dataset's order."""
        offset: Optional[int] = 0
        while offset is not None:
            page = self.outputs(result_id, offset, page_size)
            for item in page["items"]:
                yield item["values"]
            offset = page["next_offset"]

    def download(self, result_id: str, format: str = "csv",
                 path: Union[str, Path, None] = None) -> Union[bytes, Path]:
        """The whole result as CSV or JSON: bytes, or streamed into `path`."""
        return download(self._t, f"/results/{seg(result_id)}/download", {"format": format},
                        path)

    def accuracy(self, result_id: str, dataset_id: Optional[str] = None) -> Accuracy:
        """Scores against a labelled dataset (default: the task's own)."""
        return self._t.call_json("GET", f"/results/{seg(result_id)}/accuracy",
                                 query={"dataset_id": dataset_id})

    def delete(self, result_id: str) -> None:
        """Deletes a result (its task stays)."""
        self._t.call_json("DELETE", f"/results/{seg(result_id)}")


class Checkpoints(Group):
    """`/checkpoints`: saved cluster states; save, restore (see `Clusters.restore`), upload and
    download."""

    def create(self, cluster_id: str, name: str) -> Dict[str, Any]:
        """Queues a save: `{"checkpoint": (state saving), "task": Task}`."""
        reply = self._t.call_json("POST", "/checkpoints", idempotency_key=True,
                                  json_body={"cluster_id": cluster_id, "name": name})
        reply["task"] = Task(self._client, reply["task"])
        return reply

    def save(self, cluster_id: str, name: str, timeout: Optional[float] = None) -> Checkpoint:
        """Saves the cluster and waits until the checkpoint is ready."""
        reply = self.create(cluster_id, name)
        reply["task"].wait(timeout=timeout)
        return self.get(reply["checkpoint"]["id"])

    def get(self, checkpoint_id: str) -> Checkpoint:
        """A checkpoint (`state`, and `upload` while it is being uploaded)."""
        return self._t.call_json("GET", f"/checkpoints/{seg(checkpoint_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None,
             cluster_id: Optional[str] = None) -> Page[Checkpoint]:
        """One page of checkpoints, optionally of one cluster."""
        return self._page("/checkpoints", limit, cursor, cluster_id=cluster_id)

    def iter(self, page_size: int = 200, cluster_id: Optional[str] = None) \
            -> Iterator[Checkpoint]:
        """Every checkpoint, optionally of one cluster."""
        return self._iter("/checkpoints", page_size, cluster_id=cluster_id)

    def delete(self, checkpoint_id: str) -> None:
        """Deletes a checkpoint (409 while it is saved or restored)."""
        self._t.call_json("DELETE", f"/checkpoints/{seg(checkpoint_id)}")

    def download(self, checkpoint_id: str,
                 path: Union[str, Path, None] = None) -> Union[bytes, Path]:
        """The checkpoint file (ready checkpoints only): bytes, or streamed into `path`."""
        return download(self._t, f"/checkpoints/{seg(checkpoint_id)}/download", None, path)

    def create_upload(self, name: str, size: int, sha256: str) -> Checkpoint:
        """Declares an upload (state `uploading`)."""
        return self._t.call_json("POST", "/checkpoints/uploads", idempotency_key=True,
                                 json_body={"name": name, "size": size, "sha256": sha256})

    def put_data(self, checkpoint_id: str, offset: int, data: bytes) -> Dict[str, int]:
        """Appends `data` at `offset` (the bytes received so far): `{"size", "received"}`."""
        return self._t.call_json("PUT", f"/checkpoints/{seg(checkpoint_id)}/data",
                                 query={"offset": offset}, raw=data, retries=0)

    def finalize(self, checkpoint_id: str) -> Checkpoint:
        """Checks the SHA-256 and the file: state `ready` (or `failed`, raised as 400)."""
        return self._t.call_json("POST", f"/checkpoints/{seg(checkpoint_id)}/finalize",
                                 idempotent=True)

    def upload(self, source: Source, name: Optional[str] = None,
               progress: Optional[UploadProgress] = None,
               chunk_size: int = DEFAULT_CHUNK) -> Checkpoint:
        """Uploads a checkpoint file (path or bytes) in resumable chunks and finalizes it."""
        blob = Blob(source)
        checkpoint = self.create_upload(name or blob.name, blob.size, blob.sha256)
        return self.resume_upload(checkpoint["id"], blob, progress, chunk_size)

    def resume_upload(self, checkpoint_id: str, source: Union[Source, Blob],
                      progress: Optional[UploadProgress] = None,
                      chunk_size: int = DEFAULT_CHUNK) -> Checkpoint:
        """Continues an upload from the server's `received`, then finalizes."""
        blob = source if isinstance(source, Blob) else Blob(source)

        def where() -> int:
            upload = self.get(checkpoint_id).get("upload") or {}
            return int(upload.get("received", blob.size))

        send_chunks(lambda offset, data: self.put_data(checkpoint_id, offset, data), where,
                    blob, "data", progress, chunk_size)
        return self.finalize(checkpoint_id)


__all__ = ["Clusters", "Datasets", "Results", "Checkpoints"]
