/* Desks list: state badges follow each busy desk's event stream. */
(function () {
  'use strict';
  const MAX_STREAMS = 5; /* browsers allow few connections per origin over HTTP/1.1 */
  const rows = Array.from(document.querySelectorAll('tr[data-live]')).slice(0, MAX_STREAMS);
  rows.forEach(function (row) {
    const badge = row.querySelector('[data-badge]');
    const source = Bureau.watchDesk(row.dataset.deskId, function (event) {
      if (!event.state) return;
      row.dataset.state = event.state;
      Bureau.setBadge(badge, event.state);
      if (Bureau.TERMINAL.has(event.state)) source.close();
    });
  });
})();
