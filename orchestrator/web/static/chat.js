/* Desk chat: the desk's agent through the control plane's proxy (Assistants API, streaming). */
(function () {
  'use strict';
  const chat = document.querySelector('[data-chat]');
  if (!chat) return;
  const deskId = chat.dataset.deskId;
  const base = '/v1/desks/' + encodeURIComponent(deskId) + '/agent/v1';
  const messagesEl = chat.querySelector('[data-messages]');
  const threadList = chat.querySelector('[data-thread-list]');
  const composer = chat.querySelector('[data-composer]');
  const textarea = composer.querySelector('textarea');
  const files = composer.querySelector('input[type=file]');
  const sendButton = composer.querySelector('[data-send]');
  const cancelButton = composer.querySelector('[data-cancel]');
  const errorEl = composer.querySelector('[data-chat-error]');
  const threadsKey = 'bureau.threads.' + deskId;
  const HEADERS = { 'OpenAI-Beta': 'assistants=v2' };
  let assistantId = null;
  let threadId = null;
  let started = false;
  let activeRun = null;

  function call(method, path, body, opts) {
    return Bureau.api(method, base + path, body, Object.assign({ headers: HEADERS }, opts || {}));
  }

  function showError(message) {
    errorEl.textContent = message || '';
    errorEl.hidden = !message;
  }

  function storedThreads() {
    try { return JSON.parse(localStorage.getItem(threadsKey) || '[]'); } catch (e) { return []; }
  }

  function storeThreads(list) { localStorage.setItem(threadsKey, JSON.stringify(list.slice(0, 50))); }

  function renderThreads() {
    threadList.replaceChildren();
    storedThreads().forEach(function (t) {
      const li = Bureau.el('li');
      const button = Bureau.el('button', { type: 'button', class: 'thread' + (t.id === threadId ? ' active' : ''), 'data-thread-id': t.id }, t.title || 'Conversation');
      if (t.id === threadId) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', function () { openThread(t.id); });
      li.appendChild(button);
      threadList.appendChild(li);
    });
  }

  async function ensureAssistant() {
    if (assistantId) return assistantId;
    const list = await call('GET', '/assistants?limit=100');
    const mine = (list.data || []).find(function (a) { return a.metadata && a.metadata.bureau_web === '1'; });
    if (mine) {
      assistantId = mine.id;
      if (chat.dataset.model && mine.model !== chat.dataset.model) {
        await call('POST', '/assistants/' + mine.id, { model: chat.dataset.model });
      }
    } else {
      const created = await call('POST', '/assistants', {
        model: chat.dataset.model, name: 'Bureau web chat',
        instructions: 'You are the coding agent of this desk. Use your tools to act on the desk.',
        tools: [{ type: 'file_search' }], metadata: { bureau_web: '1' },
      });
      assistantId = created.id;
    }
    return assistantId;
  }

  function bubble(role) {
    const node = Bureau.el('div', { class: 'msg msg-' + role, 'data-role': role });
    node.appendChild(Bureau.el('div', { class: 'msg-role' }, role === 'user' ? 'You' : 'Desk'));
    const body = Bureau.el('div', { class: 'msg-text' });
    node.appendChild(body);
    messagesEl.appendChild(node);
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return body;
  }

  // Answers are Markdown: marked parses, DOMPurify strips anything active (scripts, handlers,
  // javascript: URLs) before it reaches the page; the CSP still blocks remote images. The raw
  // text stays on the node for the streaming deltas and for copying.
  DOMPurify.addHook('afterSanitizeAttributes', function (node) {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });

  function showMarkdown(node, text) {
    node.dataset.raw = text;
    node.innerHTML = DOMPurify.sanitize(marked.parse(text, { gfm: true, async: false }));
    node.classList.add('markdown');
  }

  function showMessage(role, text) {
    const node = bubble(role);
    if (role === 'assistant') showMarkdown(node, text);
    else node.textContent = text;
    return node;
  }

  function messageText(message) {
    return (message.content || []).map(function (part) {
      return part.type === 'text' && part.text ? part.text.value : '';
    }).join('\n');
  }

  function toolSummary(call) {
    if (call.type === 'function' && call.function) {
      let args = call.function.arguments || '';
      let command = '';
      try {
        const parsed = JSON.parse(args);
        command = parsed.command || parsed.path || parsed.query || parsed.text || '';
        args = JSON.stringify(parsed, null, 2);
      } catch (e) { /* arguments may still be streaming */ }
      return { name: call.function.name, command: command || args, input: args, output: call.function.output };
    }
    if (call.type === 'code_interpreter' && call.code_interpreter) {
      const outputs = (call.code_interpreter.outputs || []).map(function (o) { return o.logs || ''; }).join('\n');
      return { name: 'code_interpreter', command: call.code_interpreter.input, input: call.code_interpreter.input, output: outputs };
    }
    if (call.type === 'file_search') {
      const results = (call.file_search && call.file_search.results) || [];
      return { name: 'file_search', command: results.length + ' result(s)', input: '', output: results.map(function (r) { return r.file_name + ' (' + (r.score || 0).toFixed(2) + ')'; }).join('\n') };
    }
    return { name: call.type || 'tool', command: '', input: JSON.stringify(call, null, 2), output: null };
  }

  function renderStep(container, calls) {
    container.replaceChildren();
    calls.forEach(function (c) {
      const info = toolSummary(c);
      const details = Bureau.el('details', { class: 'tool-step', 'data-tool': info.name });
      const summary = Bureau.el('summary');
      summary.appendChild(Bureau.el('span', { class: 'tool-name' }, info.name));
      summary.appendChild(Bureau.el('code', { class: 'tool-command' }, String(info.command || '').split('\n')[0].slice(0, 120)));
      details.appendChild(summary);
      if (info.input) {
        details.appendChild(Bureau.el('div', { class: 'tool-label' }, 'Input'));
        details.appendChild(Bureau.el('pre', { class: 'tool-input' }, info.input));
      }
      details.appendChild(Bureau.el('div', { class: 'tool-label' }, 'Output'));
      details.appendChild(Bureau.el('pre', { class: 'tool-output', 'data-tool-output': '' }, info.output === null || info.output === undefined ? '(running…)' : String(info.output)));
      container.appendChild(details);
    });
  }

  function stepBox() {
    const box = Bureau.el('div', { class: 'steps-box', 'data-steps-box': '' });
    messagesEl.appendChild(box);
    return box;
  }

  async function showPastSteps(path) {
    try {
      const steps = await call('GET', path);
      (steps.data || []).forEach(function (step) {
        const details = step.step_details || {};
        if (details.type === 'tool_calls' && (details.tool_calls || []).length) {
          renderStep(stepBox(), details.tool_calls);
        }
      });
    } catch (error) { /* steps are a nicety; the messages matter */ }
  }

  async function openThread(id) {
    threadId = id;
    renderThreads();
    messagesEl.replaceChildren();
    showError('');
    try {
      const path = '/threads/' + encodeURIComponent(id);
      const page = await call('GET', path + '/messages?order=asc&limit=100');
      const runsShown = new Set();
      for (const message of page.data || []) {
        if (message.role === 'assistant' && message.run_id && !runsShown.has(message.run_id)) {
          runsShown.add(message.run_id);
          await showPastSteps(path + '/runs/' + encodeURIComponent(message.run_id) + '/steps?order=asc&limit=100');
        }
        showMessage(message.role, messageText(message));
      }
    } catch (error) {
      if (error.status === 404) {
        storeThreads(storedThreads().filter(function (t) { return t.id !== id; }));
        threadId = null;
        renderThreads();
      }
      showError('Could not load this conversation: ' + error.message);
    }
  }

  function newThread() {
    threadId = null;
    messagesEl.replaceChildren();
    renderThreads();
    showError('');
    textarea.focus();
  }

  async function uploadFiles() {
    const ids = [];
    for (const file of Array.from(files.files || [])) {
      const body = new FormData();
      body.append('purpose', 'assistants');
      body.append('file', file, file.name);
      const uploaded = await call('POST', '/files', body);
      ids.push(uploaded.id);
    }
    return ids;
  }

  /* Read an SSE body from fetch, calling onEvent(name, data) per event. */
  async function readStream(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = 'message';
        const data = [];
        block.split('\n').forEach(function (line) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        });
        if (data.length) onEvent(name, data.join('\n'));
      }
    }
  }

  async function runStream(tid) {
    const response = await call('POST', '/threads/' + encodeURIComponent(tid) + '/runs', { assistant_id: assistantId, stream: true }, { raw: true });
    if (!response.ok) {
      const text = await response.text();
      let data = text;
      try { data = JSON.parse(text); } catch (e) { /* plain text */ }
      throw new Bureau.ApiError(response.status, Bureau.errorMessage(data, response.status), data);
    }
    const texts = {};
    const steps = {};
    let failure = null;
    messagesEl.setAttribute('aria-busy', 'true'); /* screen readers read the finished answer */
    try {
      await readStream(response, function (name, raw) { onRunEvent(name, raw); });
    } finally {
      messagesEl.setAttribute('aria-busy', 'false');
    }
    function onRunEvent(name, raw) {
      if (raw === '[DONE]') return;
      let data;
      try { data = JSON.parse(raw); } catch (e) { return; }
      if (name === 'thread.run.created') {
        activeRun = { thread: tid, id: data.id };
        cancelButton.hidden = false;
      } else if (name === 'thread.run.cancelled') {
        failure = 'You stopped this answer.';
      } else if (name === 'thread.message.created' && data.role === 'assistant') {
        texts[data.id] = bubble('assistant');
        texts[data.id].parentNode.classList.add('streaming');
      } else if (name === 'thread.message.delta') {
        if (!texts[data.id]) texts[data.id] = bubble('assistant');
        ((data.delta && data.delta.content) || []).forEach(function (part) {
          if (part.type === 'text' && part.text) showMarkdown(texts[data.id], (texts[data.id].dataset.raw || '') + (part.text.value || ''));
        });
        messagesEl.scrollTop = messagesEl.scrollHeight;
      } else if (name === 'thread.message.completed') {
        if (!texts[data.id]) texts[data.id] = bubble('assistant');
        showMarkdown(texts[data.id], messageText(data));
        texts[data.id].parentNode.classList.remove('streaming');
      } else if (name.startsWith('thread.run.step.') && name !== 'thread.run.step.delta') {
        const details = data.step_details || {};
        if (details.type !== 'tool_calls') return;
        if (!steps[data.id]) steps[data.id] = { box: stepBox(), calls: [] };
        steps[data.id].calls = details.tool_calls || [];
        renderStep(steps[data.id].box, steps[data.id].calls);
      } else if (name === 'thread.run.step.delta') {
        const details = (data.delta && data.delta.step_details) || {};
        if (!steps[data.id]) steps[data.id] = { box: stepBox(), calls: [] };
        (details.tool_calls || []).forEach(function (delta) {
          const index = delta.index !== undefined ? delta.index : steps[data.id].calls.length;
          const current = steps[data.id].calls[index] || { id: delta.id, type: delta.type, function: { name: '', arguments: '', output: null } };
          if (delta.function) {
            current.function = current.function || { name: '', arguments: '', output: null };
            if (delta.function.name) current.function.name = delta.function.name;
            if (delta.function.arguments) current.function.arguments += delta.function.arguments;
            if (delta.function.output !== undefined && delta.function.output !== null) current.function.output = delta.function.output;
          } else {
            Object.assign(current, delta);
          }
          steps[data.id].calls[index] = current;
        });
        renderStep(steps[data.id].box, steps[data.id].calls);
      } else if (name === 'thread.run.failed' || name === 'thread.run.expired' || name === 'thread.run.incomplete') {
        failure = (data.last_error && data.last_error.message) || ('The run ended: ' + (data.status || name));
      } else if (name === 'error') {
        failure = data.message || (data.error && data.error.message) || 'The agent reported an error.';
      }
    }
    activeRun = null;
    cancelButton.hidden = true;
    if (failure) showError(failure);
  }

  async function cancelRun() {
    if (!activeRun) return;
    cancelButton.disabled = true;
    try {
      await call('POST', '/threads/' + encodeURIComponent(activeRun.thread) + '/runs/' + encodeURIComponent(activeRun.id) + '/cancel', {});
    } catch (error) {
      showError('Could not stop the answer: ' + error.message);
    } finally {
      cancelButton.disabled = false;
    }
  }

  async function send(ev) {
    ev.preventDefault();
    const text = textarea.value.trim();
    if (!text) { showError('Write a message first.'); textarea.focus(); return; }
    showError('');
    sendButton.disabled = true;
    try {
      await ensureAssistant();
      if (!threadId) {
        const thread = await call('POST', '/threads', {});
        threadId = thread.id;
        const list = storedThreads();
        list.unshift({ id: threadId, title: text.slice(0, 40), created: Date.now() });
        storeThreads(list);
        renderThreads();
      }
      const fileIds = await uploadFiles();
      const message = { role: 'user', content: text };
      if (fileIds.length) {
        message.attachments = fileIds.map(function (id) { return { file_id: id, tools: [{ type: 'file_search' }] }; });
      }
      await call('POST', '/threads/' + encodeURIComponent(threadId) + '/messages', message);
      bubble('user').textContent = text + (fileIds.length ? '\n📎 ' + Array.from(files.files).map(function (f) { return f.name; }).join(', ') : '');
      textarea.value = '';
      files.value = '';
      await runStream(threadId);
    } catch (error) {
      showError(error.status === 502 || error.status === 503
        ? 'Your desk is not answering right now (' + error.message + ').'
        : error.message);
    } finally {
      sendButton.disabled = false;
      cancelButton.hidden = true;
      activeRun = null;
    }
  }

  function start() {
    if (started) return;
    started = true;
    chat.hidden = false;
    composer.addEventListener('submit', send);
    cancelButton.addEventListener('click', cancelRun);
    textarea.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) composer.requestSubmit();
    });
    chat.querySelector('[data-new-thread]').addEventListener('click', newThread);
    const list = storedThreads();
    renderThreads();
    if (list.length) openThread(list[0].id);
  }

  if (!chat.hidden) start();
  document.addEventListener('bureau:desk-ready', start);
})();
