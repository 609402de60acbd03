/* Memory tab: browse, search and delete what the desk's agent remembers (through the proxy). */
(function () {
  'use strict';
  const root = document.querySelector('[data-memory]');
  if (!root) return;
  const base = '/v1/desks/' + encodeURIComponent(root.dataset.deskId) + '/agent/desk/v1/memory';
  const list = root.querySelector('[data-memory-list]');
  const status = root.querySelector('[data-memory-status]');
  const form = root.querySelector('[data-memory-search]');

  function itemsOf(payload) {
    if (Array.isArray(payload)) return payload;
    return (payload && (payload.data || payload.items || payload.results || payload.memories)) || [];
  }

  async function load(query) {
    status.textContent = 'Loading…';
    try {
      const path = base + '?limit=100' + (query ? '&query=' + encodeURIComponent(query) : '');
      const items = itemsOf(await Bureau.api('GET', path));
      list.replaceChildren();
      items.forEach(function (item) {
        const li = Bureau.el('li', { class: 'memory', 'data-memory-id': item.id });
        li.appendChild(Bureau.el('p', { class: 'memory-text' }, item.text || item.content || ''));
        const meta = Bureau.el('p', { class: 'muted small' });
        const when = item.created_at ? new Date(typeof item.created_at === 'number' ? item.created_at * 1000 : item.created_at) : null;
        meta.textContent = [when && !isNaN(when) ? when.toLocaleString() : '', item.kind || item.source || '', item.score !== undefined ? 'score ' + Number(item.score).toFixed(2) : ''].filter(Boolean).join(' · ');
        li.appendChild(meta);
        const button = Bureau.el('button', { type: 'button', class: 'secondary small' }, 'Delete');
        button.setAttribute('aria-label', 'Delete memory: ' + String(item.text || item.content || '').slice(0, 60));
        button.addEventListener('click', async function () {
          if (!window.confirm('Delete this memory? The agent will forget it.')) return;
          try {
            await Bureau.api('DELETE', base + '/' + encodeURIComponent(item.id));
            li.remove();
            status.textContent = 'Memory deleted.';
          } catch (error) {
            status.textContent = 'Could not delete: ' + error.message;
          }
        });
        li.appendChild(button);
        list.appendChild(li);
      });
      status.textContent = items.length ? items.length + ' memor' + (items.length === 1 ? 'y' : 'ies') + (query ? ' matching “' + query + '”' : '') + '.' : (query ? 'Nothing matches “' + query + '”.' : 'Nothing remembered yet.');
    } catch (error) {
      status.textContent = 'Could not read the memory: ' + error.message;
    }
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    load(form.querySelector('input').value.trim());
  });
  load('');
})();
