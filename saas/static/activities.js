// Follow-ups: Ctrl+Enter (⌘+Enter on a Mac) in a marked text box submits its form.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  const box = event.target;
  if (!box.matches || !box.matches("[data-submit-shortcut]") || !box.form) return;
  event.preventDefault();
  box.form.requestSubmit();
});
