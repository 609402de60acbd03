/* Desk page: live provisioning progress from the desk's event stream. */
(function () {
  'use strict';
  const box = document.querySelector('[data-progress]');
  if (!box) return;
  const deskId = box.dataset.deskId;
  const steps = box.querySelector('[data-steps]');
  const elapsedEl = box.querySelector('[data-elapsed]');
  const headerBadge = document.querySelector('[data-desk-badge] [data-badge]');
  const LABELS = {
    pending: 'Queued', provisioning: 'Creating the machine', booting: 'Booting',
    enrolling: 'Agent enrolling (receiving its certificate and your key)', ready: 'Ready',
    stopping: 'Stopping', stopped: 'Stopped', starting: 'Starting', deleting: 'Deleting',
    deleted: 'Deleted', failed: 'Failed', awaiting_key: 'Waiting for your key',
  };
  let firstAt = null;
  let lastAt = null;
  let state = box.dataset.state;
  let ticker = null;

  function show(selector, visible) {
    const node = box.querySelector(selector);
    if (node) node.hidden = !visible;
  }

  function tick() {
    if (!firstAt) return;
    const end = Bureau.TERMINAL.has(state) && lastAt ? lastAt : Date.now();
    elapsedEl.textContent = '· ' + Bureau.elapsed(end - firstAt) + (Bureau.TERMINAL.has(state) ? '' : ' so far');
  }

  function showConsole(text) {
    box.querySelector('[data-console]').textContent = text;
    const details = box.querySelector('[data-console-box]');
    details.hidden = false;
    details.open = true;
  }

  async function showFailure(message) {
    show('[data-failure]', true);
    const reason = box.querySelector('[data-failure-reason]');
    if (message) reason.textContent = message;
    try {
      const desk = await Bureau.api('GET', '/v1/desks/' + encodeURIComponent(deskId));
      if (desk.reason) reason.textContent = desk.reason;
      const excerpt = desk.console_excerpt || desk.console || '';
      if (excerpt) showConsole(excerpt);
    } catch (e) { /* the reason from the event is enough */ }
  }

  function addStep(event) {
    const at = event.time ? new Date(event.time).getTime() : Date.now();
    if (firstAt === null) firstAt = at;
    const since = lastAt === null ? 0 : at - lastAt;
    lastAt = at;
    const li = Bureau.el('li', { 'data-step': event.state, class: 'step step-' + Bureau.tone(event.state) });
    li.appendChild(Bureau.el('span', { class: 'step-name' }, LABELS[event.state] || event.state));
    li.appendChild(Bureau.el('span', { class: 'step-time muted' }, '+' + Bureau.elapsed(since)));
    if (event.message) li.appendChild(Bureau.el('span', { class: 'step-message' }, event.message));
    steps.querySelectorAll('li.current').forEach(function (n) { n.classList.remove('current'); });
    if (!Bureau.TERMINAL.has(event.state)) li.classList.add('current');
    steps.appendChild(li);
  }

  function addDetail(event) {
    const at = event.time ? new Date(event.time).getTime() : Date.now();
    if (firstAt === null) firstAt = at;
    let li = steps.lastElementChild;
    if (!li) { addStep(event); return; }
    let list = li.querySelector('ul');
    if (!list) { list = Bureau.el('ul', { class: 'step-details' }); li.appendChild(list); }
    const item = Bureau.el('li', { class: 'muted' }, event.message);
    item.appendChild(Bureau.el('span', { class: 'step-time' }, ' · ' + Bureau.elapsed(at - firstAt)));
    list.appendChild(item);
  }

  function onEvent(event) {
    if (!event.state) return;
    if (event.kind === 'progress') {
      if (event.message.startsWith('console:')) showConsole(event.message.slice(8).trim());
      else if (event.message) addDetail(event);
      return;
    }
    addStep(event);
    const previous = state;
    state = event.state;
    box.dataset.state = state;
    Bureau.setBadge(headerBadge, state);
    tick();
    show('[data-awaiting-key]', state === 'awaiting_key');
    show('[data-stopped]', state === 'stopped');
    if (state === 'failed') showFailure(event.message);
    else show('[data-failure]', false);
    if (state === 'ready' && previous !== 'ready') {
      document.dispatchEvent(new CustomEvent('bureau:desk-ready', { detail: { deskId: deskId } }));
    }
    if (state === 'deleted') window.location.assign('/desks');
  }

  Bureau.watchDesk(deskId, onEvent);
  ticker = setInterval(tick, 1000);
  window.addEventListener('beforeunload', function () { clearInterval(ticker); });
})();
