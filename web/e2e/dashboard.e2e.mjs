// End-to-end test of the dashboard in Debian's Chromium (playwright-core, headless) against a
// real `tendril serve`. Started by test_dashboard_e2e.py, which starts the server and passes:
//   TENDRIL_URL, ADMIN_NAME, ADMIN_PASSWORD, TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES,
//   TEST_LABELS (small IDX files), SCREENSHOT_DIR, optional CHROMIUM (default /usr/bin/chromium).
// Every step asserts what a person would see; a failure throws, prints the step and exits 1
// after a screenshot of the page as it was.
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('TENDRIL_URL');
const shots = env('SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'tendril-chromium-'));
const suffix = Date.now().toString(36);
const names = {
  project: `vision-${suffix}`,
  other: `other-${suffix}`,
  member: `ada-${suffix}`,
  memberPassword: 'ada-password-1',
  cluster: `digits-${suffix}`,
  hidden: `hidden-${suffix}`,
};

// A fresh profile (--user-data-dir) per run: playwright passes it for a persistent context.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
// Task progress is pushed over /api/v1/tasks/{id}/events: count the sockets and their frames.
const taskEvents = { sockets: 0, frames: 0 };
page.on('websocket', (socket) => {
  if (!/\/api\/v1\/tasks\/[0-9a-f-]{36}\/events$/.test(socket.url())) return;
  taskEvents.sockets += 1;
  socket.on('framereceived', () => {
    taskEvents.frames += 1;
  });
});
const consoleErrors = [];
page.on('pageerror', (error) => consoleErrors.push(String(error)));
let step = 'start';
const started = Date.now();
const log = (text) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
async function go(path) {
  await page.click(`header nav a[href="${path}"]`);
  await page.waitForURL(`${base}${path}`);
}
async function expectText(selector, pattern, timeout = 15000) {
  await page.locator(selector).filter({ hasText: pattern }).first().waitFor({ timeout });
}
async function login(name, password) {
  await page.waitForSelector('#login-name');
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#whoami', { timeout: 15000 });
}
async function switchProject(name) {
  const value = await page.$eval('#project-switch', (select, wanted) => {
    const option = [...select.options].find((o) => o.textContent === wanted);
    return option ? option.value : null;
  }, name);
  assert.ok(value, `project ${name} is in the switcher`);
  await page.selectOption('#project-switch', value);
  await page.waitForFunction((wanted) => {
    const select = document.querySelector('#project-switch');
    return select && select.selectedOptions[0]?.textContent === wanted && !select.dataset.stale;
  }, name);
  await expectText('#whoami', /admin/);
}
async function selectByText(selector, text) {
  await page.waitForFunction(([sel, wanted]) => {
    const select = document.querySelector(sel);
    return select && [...select.options].some((o) => o.textContent.includes(wanted));
  }, [selector, text], { timeout: 15000 });
  const value = await page.$eval(selector, (select, wanted) => {
    const option = [...select.options].find((o) => o.textContent.includes(wanted));
    return option ? option.value : null;
  }, text);
  assert.ok(value, `an option "${text}" in ${selector}`);
  await page.selectOption(selector, value);
}
async function createCluster(name) {
  await go('/clusters');
  await page.fill('#cluster-name', name);
  await expectText('#template-preview', /Valid: 3 bricks/);
  await page.click('#cluster-create');
  await page.waitForURL(/\/clusters\/[0-9a-f-]{36}$/);
  return page.url().split('/').pop();
}

// Waits until the newest task (the table's first row) of `type` has finished; returns the
// progress percentages seen on the way (a screenshot `shotName` while it runs).
async function waitForNewestTask(type, shotName) {
  const seen = [];
  const deadline = Date.now() + 120000;
  for (;;) {
    const row = page.locator('#task-list tbody tr').first();
    const cells = await row.locator('td').allTextContents().catch(() => []);
    const state = (await row.locator('.state').textContent().catch(() => '')) ?? '';
    const percent = (await row.locator('.percent').textContent().catch(() => '')) ?? '';
    if (cells[0] === type) {
      if (!seen.includes(percent)) seen.push(percent);
      if (state === 'running' && shotName) {
        await shot(shotName);
        shotName = null;
      }
      if (state === 'finished' && (type !== 'request' || /accuracy/.test(cells[7] ?? ''))) return seen;
      assert.ok(!['failed', 'cancelled', 'interrupted'].includes(state), `${type} task ended ${state}: ${cells[7]}`);
    }
    assert.ok(Date.now() < deadline, `the ${type} task did not finish in 120 s`);
    await page.waitForTimeout(100);
  }
}

try {
  step = 'login page, and a wrong password shows a readable error';
  await page.goto(base);
  await page.waitForURL(`${base}/login`);
  await page.fill('#login-name', env('ADMIN_NAME'));
  await page.fill('#login-password', 'wrong-password');
  await page.click('#login-submit');
  await expectText('[role=alert]', /Unauthenticated \(401\)|401/);
  await shot('01-login-error');

  step = 'log in as admin; the tokens are not readable by scripts';
  await page.fill('#login-password', env('ADMIN_PASSWORD'));
  await page.click('#login-submit');
  await page.waitForURL(`${base}/clusters`);
  assert.equal(await page.evaluate(() => document.cookie), '', 'document.cookie must be empty (HttpOnly)');
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  const cookies = await context.cookies();
  const access = cookies.find((c) => c.name === 'tendril_access');
  assert.ok(access && access.httpOnly && access.sameSite === 'Strict', 'HttpOnly SameSite=Strict access cookie');
  log(step);

  step = 'create two projects';
  await go('/projects');
  for (const project of [names.project, names.other]) {
    await page.fill('#project-name', project);
    await page.click('#project-create');
    await expectText('#page', `Project ${project} created`);
  }
  await shot('02-projects');

  step = 'create a member user and add them to the first project';
  await go('/users');
  await page.fill('#user-name', names.member);
  await page.fill('#user-password', names.memberPassword);
  await page.click('#user-create');
  await expectText('#page', `User ${names.member} created`);
  await shot('03-users');
  await go('/projects');
  await page.locator('tr', { hasText: names.project }).getByRole('button', { name: 'Members' }).click();
  await page.fill('#member-name', names.member);
  await page.click('#member-add');
  await expectText('#members', `${names.member} is now member`);
  await shot('04-members');
  log(step);

  step = 'a cluster in the other project (the member must not see it)';
  await switchProject(names.other);
  const hiddenId = await createCluster(names.hidden);
  log(step);

  step = 'an interrupted upload: declared, and part of the images sent, outside the page';
  await switchProject(names.project);
  const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const size = (file) => readFileSync(file).length;
  const head = [...readFileSync(env('TRAIN_IMAGES')).subarray(0, 300000)];
  const interrupted = await page.evaluate(async ({ parts, head }) => {
    const declared = await fetch('/api/v1/datasets', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'fashion-train', format: 'idx', parts }),
    });
    const dataset = await declared.json();
    const put = await fetch(`/api/v1/datasets/${dataset.id}/parts/images?offset=0`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(head),
    });
    return { id: dataset.id, status: declared.status, received: (await put.json()).received };
  }, {
    parts: {
      images: { size: size(env('TRAIN_IMAGES')), sha256: sha(env('TRAIN_IMAGES')) },
      labels: { size: size(env('TRAIN_LABELS')), sha256: sha(env('TRAIN_LABELS')) },
    },
    head,
  });
  assert.equal(interrupted.status, 201);
  assert.equal(interrupted.received, 300000);
  log(step);

  step = 'upload the training set (resuming) and the test set';
  await go('/datasets');
  const statuses = [];
  await page.exposeFunction('reportUploadStatus', (text) => statuses.push(text));
  await page.evaluate(() => {
    const status = document.querySelector('#upload-status');
    new MutationObserver(() => window.reportUploadStatus(status.textContent)).observe(status, {
      childList: true, characterData: true, subtree: true,
    });
  });
  // The training set through the file picker (it resumes the interrupted upload) ...
  await page.fill('#dataset-name', 'fashion-train');
  await page.setInputFiles('#dataset-files', [env('TRAIN_IMAGES'), env('TRAIN_LABELS')]);
  await expectText('#upload-status', 'Dataset fashion-train is ready', 60000);
  assert.equal(await page.$eval('#upload-progress', (bar) => bar.value), 1);
  // ... the test set dropped on the drop zone, as a person would drag it there.
  await page.fill('#dataset-name', 'fashion-test');
  const dropped = await page.evaluateHandle(({ images, labels }) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(images)], 't10k-images-idx3-ubyte'));
    transfer.items.add(new File([new Uint8Array(labels)], 't10k-labels-idx1-ubyte'));
    return transfer;
  }, { images: [...readFileSync(env('TEST_IMAGES'))], labels: [...readFileSync(env('TEST_LABELS'))] });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dropped });
  await expectText('#upload-status', 'Dataset fashion-test is ready', 60000);
  assert.equal(await page.$eval('#upload-progress', (bar) => bar.value), 1);
  await expectText('#dataset-list', 'fashion-test');
  const trainStatuses = statuses.slice(0, statuses.findIndex((t) => t.startsWith('Dataset fashion-train')));
  assert.ok(trainStatuses.some((t) => t.startsWith('Resuming images')) && !trainStatuses.some((t) => t.startsWith('Uploading')),
    `the training upload resumed (statuses: ${trainStatuses.join(' | ')})`);
  const trainIds = await page.evaluate(async () =>
    (await (await fetch('/api/v1/datasets')).json()).items.filter((d) => d.name === 'fashion-train').map((d) => [d.id, d.state]));
  assert.deepEqual(trainIds, [[interrupted.id, 'ready']], 'the interrupted dataset itself was completed');
  await shot('05-datasets');
  await page.click('#dataset-list a:text("fashion-train")');
  await expectText('#page', /images of 28×28, 10 classes/);
  await shot('06-dataset-details');
  log(step);

  step = 'create a cluster from a template with the live preview';
  await go('/clusters');
  await page.fill('#cluster-template', 'version: 1\nbricks:\n    1,1,1\n        input: pixels\n        number_of_neurons: oops\n');
  await expectText('#template-preview [role=alert]', /line/);
  await shot('07-template-invalid');
  await go('/datasets');
  const clusterId = await createCluster(names.cluster);
  log(step);

  step = 'train and test three times: progress reaches 100 %, each test gives an accuracy';
  await go('/tasks');
  await selectByText('#task-cluster', names.cluster);
  const accuracies = [];
  for (let round = 1; round <= 3; round++) {
    await page.selectOption('#task-type', 'train');
    await selectByText('#task-dataset', 'fashion-train');
    await page.fill('#task-epochs', '1');
    await page.click('#task-start');
    const seen = await waitForNewestTask('train', round === 1 ? '08-task-running' : null);
    assert.ok(seen.includes('100 %'), `progress reached 100 % (saw ${seen.join(', ')})`);
    await page.selectOption('#task-type', 'request');
    await selectByText('#task-dataset', 'fashion-test');
    await page.click('#task-start');
    await waitForNewestTask('request', null);
    const outcome = await page.locator('#task-list tbody tr').first().locator('.outcome').textContent();
    const match = outcome.match(/accuracy (\d+\.\d\d) %/);
    assert.ok(match, `an accuracy figure, got "${outcome}"`);
    accuracies.push(Number(match[1]));
    log(`round ${round}: progress seen ${seen.join(', ')}; ${outcome}`);
  }
  assert.ok(accuracies[2] > 30, `accuracy ${accuracies[2]} % after three epochs (chance is 10 %)`);
  // Each task's progress came over its events socket (the cookie authenticated the upgrade).
  assert.ok(taskEvents.sockets >= 3, `an events socket per running task (saw ${taskEvents.sockets})`);
  assert.ok(taskEvents.frames >= 3, `progress events arrived (saw ${taskEvents.frames})`);
  log(`task events: ${taskEvents.sockets} sockets, ${taskEvents.frames} frames`);
  await page.waitForTimeout(800);
  await shot('09-tasks');

  step = 'results page shows the accuracy and download links';
  await go('/results');
  await expectText('#result-list .accuracy', /\d+\.\d\d % \(\d+ of \d+\)/);
  const download = await page.locator('#result-list a', { hasText: 'CSV' }).first().getAttribute('href');
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), download);
  assert.match(csv.split('\n')[0], /^classes_0,classes_1,/);
  await shot('10-results');
  log(step);

  step = 'an expired access cookie: the page refreshes the session from the refresh cookie';
  const oldAccessValue = (await context.cookies()).find((c) => c.name === 'tendril_access').value;
  await context.clearCookies({ name: 'tendril_access' });
  await go('/checkpoints');
  await selectByText('#checkpoint-cluster', names.cluster);
  const renewed = (await context.cookies()).find((c) => c.name === 'tendril_access');
  assert.ok(renewed && renewed.value !== oldAccessValue, 'a new access cookie after the refresh');
  log(step);

  step = 'save a checkpoint, restore it';
  await go('/checkpoints');
  await selectByText('#checkpoint-cluster', names.cluster);
  await page.fill('#checkpoint-name', 'after-training');
  await page.click('#checkpoint-save');
  await expectText('#checkpoint-list tr', /after-training.*ready/, 30000);
  await page.locator('#checkpoint-list tr', { hasText: 'after-training' }).getByRole('button', { name: 'Restore' }).click();
  await expectText('#page [role=status]', /Restoring after-training/);
  await shot('11-checkpoints');
  log(step);

  step = 'cluster details with growth charts';
  await go('/clusters');  // inside the app: the synapse readings taken while training stay
  await page.click(`#cluster-list a[href="/clusters/${clusterId}"]`);
  await expectText('#cluster-facts', /\d/);
  await page.locator('.chart canvas').first().waitFor();
  await page.waitForTimeout(2000);
  await shot('12-cluster-details');
  log(step);

  step = 'draw a digit in the playground and get the ten outputs';
  await go('/playground');
  await selectByText('#play-cluster', names.cluster);
  const box = await page.locator('#digit').boundingBox();
  const strokes = [
    [[0.5, 0.15], [0.5, 0.85]],
    [[0.35, 0.3], [0.5, 0.15]],
  ];
  for (const stroke of strokes) {
    await page.mouse.move(box.x + stroke[0][0] * box.width, box.y + stroke[0][1] * box.height);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) {
      const t = i / 10;
      const x = stroke[0][0] + (stroke[1][0] - stroke[0][0]) * t;
      const y = stroke[0][1] + (stroke[1][1] - stroke[0][1]) * t;
      await page.mouse.move(box.x + x * box.width, box.y + y * box.height);
    }
    await page.mouse.up();
  }
  await page.click('#play-request');
  await expectText('#play-answer', /The cluster says: \d/);
  assert.equal(await page.locator('#bars .bar').count(), 10);
  await page.selectOption('#play-label', '1');
  await page.click('#play-train');
  await expectText('#page [role=status]', /Trained as 1/);
  await shot('13-playground');
  log(step);

  step = 'API keys, host monitoring and the API browser';
  await go('/keys');
  await page.fill('#key-name', 'dashboard-test');
  await page.click('#key-create');
  await expectText('#new-key', /^tdk_/);
  await shot('14-keys');
  await go('/monitor');
  await expectText('#host-figures', /CPU load/);
  await expectText('#request-rates', /\/api\/v1\/|No requests/, 10000);
  await shot('15-host');
  await go('/api-docs');
  await page.frameLocator('iframe.docs').locator('body').filter({ hasText: /clusters/ }).waitFor();
  await shot('16-api');
  log(step);

  step = 'log out: back to the login page, the cookies are gone and the session is revoked';
  const before = await context.cookies();
  const oldAccess = before.find((c) => c.name === 'tendril_access').value;
  await page.click('#logout');
  await page.waitForURL(`${base}/login`);
  assert.equal((await context.cookies()).filter((c) => c.name.startsWith('tendril_')).length, 0);
  const status = await page.evaluate(async (token) =>
    (await fetch('/api/v1/auth/whoami', { headers: { Authorization: `Bearer ${token}` } })).status, oldAccess);
  assert.equal(status, 401, 'the old access token is revoked');
  log(step);

  step = 'the member sees neither the other project nor its cluster';
  await login(names.member, names.memberPassword);
  const options = await page.$$eval('#project-switch option', (list) => list.map((o) => o.textContent));
  assert.deepEqual(options, [names.project]);
  await go('/clusters');
  await expectText('#cluster-list', /No clusters yet/);
  assert.equal(await page.locator('#page', { hasText: names.hidden }).count(), 0);
  await page.goto(`${base}/clusters/${hiddenId}`);
  await expectText('[role=alert]', /Not found \(404\)/);
  await shot('17-member-cannot-see');
  await page.click('#logout');
  await page.waitForURL(`${base}/login`);
  log(step);

  assert.deepEqual(consoleErrors, [], 'no uncaught errors in the page');
  log(`passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  console.error(`[e2e] FAILED at step "${step}": ${error && error.stack ? error.stack : error}`);
  if (consoleErrors.length) console.error(`[e2e] page errors: ${consoleErrors.join('\n')}`);
  await shot('failure').catch(() => {});
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
