/* New desk and settings forms: provider hints, model selector with search, submit with errors. */
(function () {
  'use strict';
  const form = document.querySelector('form[data-desk-form]');
  if (!form) return;
  const $ = function (sel) { return form.querySelector(sel); };
  const provider = $('#provider');
  const hint = $('#hint-provider');
  const endpointField = $('[data-endpoint-field]');
  const endpoint = $('#endpoint');
  const key = $('#api_key');
  const search = $('#model-search');
  const select = $('#model');
  const status = $('[data-models-status]');
  const manual = $('[data-model-manual]');
  const loadButton = $('[data-load-models]');
  const datalist = $('#model-ids');
  let models = [];
  let loadedFor = '';
  let timer = null;
  let inflight = null;

  function currentInfo() {
    const option = provider.selectedOptions[0];
    return option && option.value ? option : null;
  }

  function prefixProblem() {
    const info = currentInfo();
    const value = key.value.trim();
    if (!info || !value) return '';
    const prefix = info.dataset.prefix;
    if (info.value === 'openai' && (value.startsWith('sk-ant-') || value.startsWith('sk-or-'))) {
      const other = value.startsWith('sk-ant-') ? 'an Anthropic' : 'an OpenRouter';
      return 'This looks like ' + other + ' key, not an OpenAI key. Pick the matching provider.';
    }
    if (prefix && !value.startsWith(prefix)) {
      return info.textContent.trim() + ' keys start with ' + prefix + ' — check that you pasted the whole key.';
    }
    return '';
  }

  function setFieldError(name, message) {
    const slot = form.querySelector('[data-error-for="' + name + '"]');
    const input = form.querySelector('[name="' + name + '"]');
    if (slot) { slot.textContent = message; slot.hidden = !message; }
    if (input) { if (message) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid'); }
  }

  function onProvider() {
    const info = currentInfo();
    hint.textContent = info ? info.dataset.hint : '';
    endpointField.hidden = !(info && info.dataset.endpoint);
    models = [];
    loadedFor = '';
    renderModels();
    search.disabled = true;
    status.textContent = 'Enter your key, then the list fills from your provider.';
    if (key.value.trim()) scheduleLoad(0);
  }

  function renderModels() {
    const wanted = search.value.trim().toLowerCase();
    const previous = select.value;
    const shown = models.filter(function (m) {
      return !wanted || m.id.toLowerCase().includes(wanted) || (m.name || '').toLowerCase().includes(wanted);
    });
    select.replaceChildren();
    shown.slice(0, 500).forEach(function (m) {
      const label = m.name && m.name !== m.id ? m.name + ' — ' + m.id : m.id;
      const option = Bureau.el('option', { value: m.id }, m.context ? label + ' (' + m.context + ' tokens)' : label);
      if (m.id === previous) option.selected = true;
      select.appendChild(option);
    });
    if (models.length) {
      status.textContent = shown.length + ' of ' + models.length + ' models' + (wanted ? ' match “' + search.value.trim() + '”' : '') + ' — type to search, arrows to pick.';
    }
  }

  function normalise(payload) {
    const items = Array.isArray(payload) ? payload : (payload && (payload.data || payload.models)) || [];
    return items.map(function (m) {
      if (typeof m === 'string') return { id: m };
      return { id: String(m.id || m.model || m.name), name: m.display_name || m.name || '', context: m.context_length || m.context_window || null };
    }).filter(function (m) { return m.id && m.id !== 'undefined'; })
      .sort(function (a, b) { return a.id.localeCompare(b.id); });
  }

  async function loadModels() {
    const info = currentInfo();
    const value = key.value.trim();
    if (!info) { setFieldError('provider', 'Choose your model provider first.'); return; }
    if (!value) { setFieldError('api_key', 'Paste your API key to load the models.'); return; }
    const problem = prefixProblem();
    setFieldError('api_key', problem);
    if (problem) return;
    const signature = info.value + '|' + value + '|' + (endpoint ? endpoint.value : '');
    if (signature === loadedFor) return;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    status.textContent = 'Loading models from ' + info.textContent.trim() + '…';
    const body = { api_key: value };
    if (info.dataset.endpoint && endpoint.value.trim()) body.endpoint = endpoint.value.trim();
    try {
      const payload = await Bureau.api('POST', '/v1/providers/' + encodeURIComponent(info.value) + '/models', body, { signal: inflight.signal });
      models = normalise(payload);
      loadedFor = signature;
      manual.hidden = true;
      search.disabled = false;
      datalist.replaceChildren();
      models.slice(0, 1000).forEach(function (m) { datalist.appendChild(Bureau.el('option', { value: m.id })); });
      setFieldError('model', '');
      renderModels();
      if (!models.length) { status.textContent = 'Your provider listed no models; type the model id below.'; manual.hidden = false; }
    } catch (error) {
      if (error.name === 'AbortError') return;
      models = [];
      renderModels();
      manual.hidden = false;
      status.textContent = '';
      const problems = fieldProblems(error);
      if (problems.length) {
        problems.forEach(function (p) { setFieldError(p.field, p.message); });
      } else {
        setFieldError('model', 'Could not load the models (' + error.message + '). You can type the model id below.');
      }
    } finally {
      inflight = null;
    }
  }

  /* The API's 422 details for the models call, as [{field, message}] in plain words. */
  function fieldProblems(error) {
    const detail = error.data && Array.isArray(error.data.detail) ? error.data.detail : [];
    return detail.map(function (item) {
      const loc = Array.isArray(item.loc) ? item.loc : [];
      const field = loc[loc.length - 1] === 'endpoint' ? 'endpoint' : 'api_key';
      let message = String(item.msg || 'This value is not accepted.').replace(/^Value error, /, '');
      if (/rejected/.test(message)) {
        message = 'Your provider did not accept this key. Check it, or type the model id below.';
      } else {
        message = message.charAt(0).toUpperCase() + message.slice(1) + (/[.!?]$/.test(message) ? '' : '.');
      }
      return { field: field, message: message };
    });
  }

  function scheduleLoad(delay) {
    clearTimeout(timer);
    timer = setTimeout(loadModels, delay);
  }

  provider.addEventListener('change', onProvider);
  key.addEventListener('input', function () { if (!prefixProblem()) setFieldError('api_key', ''); scheduleLoad(700); });
  key.addEventListener('change', function () { scheduleLoad(0); });
  if (endpoint) endpoint.addEventListener('change', function () { scheduleLoad(0); });
  loadButton.addEventListener('click', function () { loadedFor = ''; loadModels(); });
  search.addEventListener('input', renderModels);
  search.addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowDown' && select.options.length) {
      ev.preventDefault();
      if (select.selectedIndex < 0) select.selectedIndex = 0;
      select.focus();
    }
  });

  /* Embeddings section. */
  const embProvider = $('#emb_provider');
  const embModel = $('#emb_model');
  const embEnabled = $('#emb_enabled');
  const embDefaults = Array.from(embProvider.options).map(function (o) { return o.dataset.model; });
  function onEmbProvider() {
    const option = embProvider.selectedOptions[0];
    $('[data-emb-endpoint-field]').hidden = !(option && option.dataset.endpoint);
    const fallback = (option && option.dataset.model) || '';
    embModel.placeholder = fallback || 'text-embedding-3-small';
    /* Suggest the provider's usual model unless the user typed their own. */
    if (!embModel.value || embDefaults.indexOf(embModel.value) >= 0) embModel.value = fallback;
  }
  embProvider.addEventListener('change', onEmbProvider);
  form.querySelectorAll('input[name="emb_key_mode"]').forEach(function (radio) {
    radio.addEventListener('change', function () {
      $('[data-emb-key-field]').hidden = form.querySelector('input[name="emb_key_mode"]:checked').value !== 'own';
    });
  });
  form.querySelectorAll('[data-embeddings] input, [data-embeddings] select').forEach(function (input) {
    if (input !== embEnabled) input.addEventListener('change', function () { embEnabled.checked = true; });
  });
  onEmbProvider();

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    const button = form.querySelector('[data-submit]');
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Working…';
    try {
      const response = await fetch(form.action, {
        method: 'POST', body: new FormData(form), credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-CSRF-Token': Bureau.csrf() },
      });
      let data = {};
      try { data = await response.json(); } catch (e) { data = {}; }
      if (response.ok && data.redirect) { window.location.assign(data.redirect); return; }
      if (response.status === 401) { window.location.assign('/signin'); return; }
      Bureau.showErrors(form, data.errors || { __all__: 'The server answered with status ' + response.status + '. Try again.' });
    } catch (error) {
      Bureau.showErrors(form, { __all__: 'Could not reach the server: ' + error.message });
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
  if (currentInfo()) hint.textContent = currentInfo().dataset.hint;
})();
