// The direct-IO playground: draw a digit on a canvas, send it to a cluster as a request or train
// it with a label over the cluster's direct WebSocket (JSON frames, docs/api.md "Direct IO"), and
// see the ten outputs as bars.
import { socketUrl } from '../api';
import { errorBox, field, h, replace } from '../dom';
import { argmax, barHeights, downsample, oneHot } from '../digit';
import type { Context } from '../main';
import type { Cluster } from '../types';
import { clusterSelect, listClusters, message, needsProject, ok, section } from './common';

const SIZE = 280;

interface Reply {
  id: unknown;
  outputs?: Record<string, number[]>;
  trained?: boolean;
  samples_trained?: number;
  error?: { status: number; detail: string; title?: string };
}

export async function playgroundPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Playground'));
  const missing = needsProject(me);
  if (missing) {
    root.appendChild(missing);
    return () => {};
  }
  const clusters: Cluster[] = (await listClusters(api)).filter(
    (c) => c.inputs.reduce((s, p) => s + p.width, 0) === 784,
  );
  const cluster = clusterSelect(clusters, 'play-cluster');
  const canvas = h('canvas', { id: 'digit', width: String(SIZE), height: String(SIZE) });
  const g = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  const clear = () => {
    g.fillStyle = '#000';
    g.fillRect(0, 0, SIZE, SIZE);
  };
  clear();
  let drawing = false;
  let last: [number, number] | null = null;
  const at = (event: PointerEvent): [number, number] => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * SIZE) / box.width, ((event.clientY - box.top) * SIZE) / box.height];
  };
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    last = at(event);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing || !last) return;
    const point = at(event);
    g.strokeStyle = '#fff';
    g.lineWidth = 22;
    g.lineCap = 'round';
    g.beginPath();
    g.moveTo(...last);
    g.lineTo(...point);
    g.stroke();
    last = point;
  });
  const stopDrawing = () => {
    drawing = false;
    last = null;
  };
  canvas.addEventListener('pointerup', stopDrawing);
  canvas.addEventListener('pointercancel', stopDrawing);

  const label = h('select', { id: 'play-label' }, Array.from({ length: 10 }, (_, i) => h('option', { value: String(i) }, String(i))));
  const send = h('button', { id: 'play-request' }, 'Recognise');
  const train = h('button', { id: 'play-train' }, 'Train with label');
  const clearButton = h('button', { id: 'play-clear', className: 'secondary' }, 'Clear');
  const bars = h('div', { id: 'bars', className: 'bars' });
  const answer = h('p', { id: 'play-answer', className: 'answer' });
  const msg = message();

  let socket: WebSocket | null = null;
  let socketCluster = '';
  let nextId = 1;
  const waiting = new Map<number, (reply: Reply) => void>();
  const connect = (): Promise<WebSocket> => {
    if (socket && socket.readyState === WebSocket.OPEN && socketCluster === cluster.value) {
      return Promise.resolve(socket);
    }
    socket?.close();
    socketCluster = cluster.value;
    return new Promise((resolve, reject) => {
      // The session cookie authenticates the upgrade; the server checks its Origin.
      const ws = new WebSocket(socketUrl(`/api/v1/clusters/${cluster.value}/direct`, location));
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error('The direct connection to the cluster failed (logged out, or the cluster is gone?).'));
      ws.onclose = () => {
        for (const resolveReply of waiting.values()) {
          resolveReply({ id: null, error: { status: 0, detail: 'the connection closed' } });
        }
        waiting.clear();
      };
      ws.onmessage = (event) => {
        const reply = JSON.parse(String(event.data)) as Reply;
        const resolveReply = waiting.get(reply.id as number);
        if (resolveReply) {
          waiting.delete(reply.id as number);
          resolveReply(reply);
        }
      };
      socket = ws;
    });
  };
  const frame = async (body: Record<string, unknown>): Promise<Reply> => {
    const ws = await connect();
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, ...body }));
    });
  };
  const pixels = () => downsample(g.getImageData(0, 0, SIZE, SIZE).data, SIZE, SIZE, 28);
  const showOutputs = (values: number[]) => {
    const heights = barHeights(values);
    const best = argmax(values);
    replace(
      bars,
      values.map((v, i) =>
        h(
          'div',
          { className: i === best ? 'bar best' : 'bar', title: String(v) },
          h('div', { className: 'fill', style: `height:${Math.round(heights[i] * 100)}%` }),
          h('span', { className: 'value' }, v.toFixed(3)),
          h('span', { className: 'digit' }, String(i)),
        ),
      ),
    );
    answer.textContent = best >= 0 ? `The cluster says: ${best}` : '';
  };
  const run = async (button: HTMLButtonElement, body: () => Record<string, unknown>) => {
    button.disabled = true;
    replace(msg);
    try {
      if (!cluster.value) throw new Error('No cluster with 784 inputs in this project: create one first.');
      const reply = await frame(body());
      if (reply.error) throw new Error(`${reply.error.title ?? 'Error'} (${reply.error.status}): ${reply.error.detail}`);
      if (reply.outputs) showOutputs(Object.values(reply.outputs).flat());
      if (reply.trained) ok(msg, `Trained as ${label.value}; the cluster has trained ${reply.samples_trained} samples.`);
    } catch (error) {
      replace(msg, errorBox((error as Error).message));
    } finally {
      button.disabled = false;
    }
  };
  send.onclick = () => run(send, () => ({ op: 'request', inputs: pixels() }));
  train.onclick = () =>
    run(train, () => {
      const c = clusters.find((k) => k.id === cluster.value);
      const width = c ? c.outputs.reduce((s, p) => s + p.width, 0) : 10;
      return { op: 'train', inputs: pixels(), expected: oneHot(Number(label.value), width) };
    });
  clearButton.onclick = () => {
    clear();
    replace(bars);
    answer.textContent = '';
  };
  root.appendChild(
    section(
      'Draw a digit',
      h('div', { className: 'row' }, field('Cluster', cluster), clearButton, send, field('Label', label), train),
      h('div', { className: 'playground' }, canvas, h('div', null, bars, answer)),
      msg,
    ),
  );
  return () => socket?.close();
}
