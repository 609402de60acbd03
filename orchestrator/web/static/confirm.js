/* Confirmation dialogs: a [data-confirm=id] button opens <dialog id>, [data-close] closes it. */
(function () {
  'use strict';
  document.querySelectorAll('[data-confirm]').forEach(function (button) {
    const dialog = document.getElementById(button.dataset.confirm);
    if (!dialog) return;
    button.addEventListener('click', function () { dialog.showModal(); });
    dialog.querySelectorAll('[data-close]').forEach(function (close) {
      close.addEventListener('click', function () { dialog.close(); button.focus(); });
    });
  });
})();
