/* Bureau web: helpers shared by every page (API calls with the session, errors, badges). */
(function () {
  'use strict';

  const TERMINAL = new Set(['ready', 'stopped', 'failed', 'deleted', 'awaiting_key']);
  const TONES = { ready: 'ok', failed: 'bad', deleted: 'off', stopped: 'off', awaiting_key: 'warn' };

  class ApiError extends Error {
    constructor(status, message, data) {
      super(message);
      this.status = status;
      this.data = data;
    }
  }

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  function errorMessage(data, status) {
    if (data && typeof data === 'object') {
      if (data.error && data.error.message) return data.error.message;
      if (typeof data.detail === 'string') return data.detail;
      if (Array.isArray(data.detail) && data.detail.length) return data.detail[0].msg || 'Invalid input.';
      if (data.detail && data.detail.message) return data.detail.message;
    }
    if (typeof data === 'string' && data) return data.slice(0, 300);
    return 'The server answered with status ' + status + '.';
  }

  /* Call the JSON API with the browser session (the server adds the token; we add CSRF). */
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: 'application/json', 'X-CSRF-Token': csrf() }, opts.headers || {});
    let payload = body;
    if (body !== undefined && body !== null && !(body instanceof FormData)) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, {
      method: method, headers: headers, body: payload, credentials: 'same-origin', signal: opts.signal,
    });
    if (response.status === 401 && !opts.keep401) {
      window.location.assign('/signin');
      throw new ApiError(401, 'Your session has ended: sign in again.');
    }
    if (opts.raw) return response;
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!response.ok) throw new ApiError(response.status, errorMessage(data, response.status), data);
    return data;
  }

  /* Show {field: message} next to the fields of `form` (and clear the others). */
  function showErrors(form, errors) {
    form.querySelectorAll('[data-error-for]').forEach(function (el) {
      el.textContent = '';
      el.hidden = true;
    });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    let first = null;
    Object.keys(errors || {}).forEach(function (name) {
      let slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (!slot) slot = form.querySelector('[data-error-for="__all__"]');
      if (slot) {
        slot.textContent = slot.textContent ? slot.textContent + ' ' + errors[name] : errors[name];
        slot.hidden = false;
      }
      const input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        const details = input.closest('details');
        if (details) details.open = true;
        const hiddenBox = input.closest('[hidden]');
        if (hiddenBox) hiddenBox.hidden = false;
        if (!first) first = input;
      } else if (!first && slot) {
        first = slot;
      }
    });
    if (first) {
      if (first.tabIndex < 0 && !first.matches('input,select,textarea,button')) first.tabIndex = -1;
      first.focus();
    }
  }

  function tone(state) { return TONES[state] || 'busy'; }

  function setBadge(el, state) {
    if (!el) return;
    el.textContent = state.replace(/_/g, ' ');
    el.className = 'badge badge-' + tone(state);
  }

  /* One desk event of GET /v1/desks/{id}/events (data = DeskEventPublic JSON). */
  function readEvent(raw) {
    let data;
    try { data = JSON.parse(raw); } catch (e) { return null; }
    if (!data || typeof data !== 'object') return null;
    return {
      id: data.id,
      kind: data.kind || 'transition',
      state: data.to_state || '',
      from: data.from_state || '',
      message: data.message || '',
      time: data.at || null,
    };
  }

  /* EventSource on a desk's events (history first, then live); onEvent(parsed) for each. */
  function watchDesk(deskId, onEvent) {
    const source = new EventSource('/v1/desks/' + encodeURIComponent(deskId) + '/events');
    let last = -1;
    source.onmessage = function (ev) {
      const parsed = readEvent(ev.data);
      if (!parsed) return;
      if (typeof parsed.id === 'number') {
        if (parsed.id <= last) return; /* a reconnect may replay what we already have */
        last = parsed.id;
      }
      onEvent(parsed);
    };
    return source;
  }

  function elapsed(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    return m + ' min ' + String(s % 60).padStart(2, '0') + ' s';
  }

  function localTimes(root) {
    (root || document).querySelectorAll('time[data-local-time]').forEach(function (el) {
      const d = new Date(el.getAttribute('datetime'));
      if (!isNaN(d)) el.textContent = d.toLocaleString();
    });
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  window.Bureau = {
    api: api, ApiError: ApiError, csrf: csrf, showErrors: showErrors, setBadge: setBadge,
    tone: tone, TERMINAL: TERMINAL, watchDesk: watchDesk, elapsed: elapsed, el: el,
    localTimes: localTimes, errorMessage: errorMessage,
  };
  document.addEventListener('DOMContentLoaded', function () { localTimes(document); });
})();
