/** The page's shared pieces of interaction: the confirmation dialog and the status line. */
import { setText } from './dom.js';

/**
 * Asks before an action, in the page's modal `<dialog>` (focus moves into it, Escape cancels,
 * Cancel is the default button). Resolves true only when the person confirms.
 */
export function confirmAction({ title, message, confirm }) {
  const dialog = document.getElementById('confirm');
  setText(document.getElementById('confirm-title'), title);
  setText(document.getElementById('confirm-message'), message);
  setText(document.getElementById('confirm-ok'), confirm);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

let clearTimer;

/** Says what just happened in the page's live region (read out by screen readers), for 10 s. */
export function toast(message, kind = 'info') {
  const line = document.getElementById('toast');
  // The region stays in the page (empty when idle, which the CSS hides the box of): a live
  // region shown only when it has something to say is not reliably read out.
  line.dataset.kind = kind;
  setText(line, message);
  clearTimeout(clearTimer);
  clearTimer = setTimeout(() => setText(line, ''), 10_000);
}

/** "1 job" / "3 jobs". */
export function jobs(count) {
  return `${count} ${count === 1 ? 'job' : 'jobs'}`;
}
