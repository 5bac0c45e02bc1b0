// Progressive enhancement for the page layout editor (no inline code: the CSP forbids it).
//
// Every field row posts its key ("field", in screen order) and the section it goes to
// ("place-<key>"). Without this script the section selects and the ↑/↓ buttons work through
// ordinary form posts. With it:
// * a field is dragged by its handle into any place of any section (or to "Not placed"),
// * choosing another section in a row's select moves the row there at once,
// * ↑/↓ move the row inside its section without a round trip.
// Nothing is saved until "Save the layout" is pressed.
(() => {
  "use strict";

  const editor = document.querySelector("[data-layout-editor]");
  if (!editor) return;

  const rowsOf = (list) =>
    Array.from(list.children).filter((el) => el.matches("[data-layout-field]"));
  const labelOf = (row) => row.querySelector("[data-testid='layout-field-label']")?.textContent || "";
  const live = editor.querySelector("[data-live]");

  function refresh() {
    editor.querySelectorAll("[data-layout-list]").forEach((list) => {
      const empty = list.querySelector("[data-layout-empty]");
      if (empty) empty.hidden = rowsOf(list).length > 0;
    });
  }

  function announce(row) {
    const select = row.querySelector("select[data-place]");
    const section = select?.selectedOptions[0]?.textContent.trim() || "";
    const list = row.parentElement;
    const position = rowsOf(list).indexOf(row) + 1;
    if (live) live.textContent = `${labelOf(row)} → ${section} (${position})`;
  }

  function place(row, list, before) {
    const empty = list.querySelector("[data-layout-empty]");
    list.insertBefore(row, before || empty || null);
    const select = row.querySelector("select[data-place]");
    if (select) select.value = list.dataset.section;
    refresh();
  }

  // --- drag and drop -----------------------------------------------------------------
  let dragged = null;

  editor.querySelectorAll("[data-drag-handle]").forEach((handle) => {
    handle.hidden = false;
    handle.draggable = true;
  });

  editor.addEventListener("dragstart", (event) => {
    const row = event.target.closest?.("[data-drag-handle]")?.closest("[data-layout-field]");
    if (!row) return;
    dragged = row;
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.key || "");
    event.dataTransfer.setDragImage(row, 8, 8);
  });

  editor.addEventListener("dragover", (event) => {
    if (!dragged) return;
    const list = event.target.closest?.("[data-layout-list]");
    if (!list) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    editor.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    list.classList.add("drop-target");
    const over = event.target.closest("[data-layout-field]");
    if (over === dragged) return;
    if (over) {
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      place(dragged, list, after ? over.nextElementSibling : over);
    } else if (dragged.parentElement !== list) {
      place(dragged, list, null);
    }
  });

  editor.addEventListener("drop", (event) => {
    if (dragged) event.preventDefault();
  });

  editor.addEventListener("dragend", () => {
    if (!dragged) return;
    const row = dragged;
    dragged = null;
    row.classList.remove("dragging");
    editor.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    announce(row);
  });

  // --- the section select and the ↑/↓ buttons ----------------------------------------
  editor.addEventListener("change", (event) => {
    const select = event.target.closest?.("select[data-place]");
    if (!select) return;
    const row = select.closest("[data-layout-field]");
    const list = editor.querySelector(`[data-layout-list][data-section="${select.value}"]`);
    if (!row || !list) return;
    place(row, list, null);
    select.focus();
    announce(row);
  });

  editor.addEventListener("click", (event) => {
    const button = event.target.closest?.("button[data-move]");
    if (!button) return;
    event.preventDefault();
    const row = button.closest("[data-layout-field]");
    const rows = rowsOf(row.parentElement);
    const index = rows.indexOf(row);
    if (button.dataset.move === "up" && index > 0) {
      row.parentElement.insertBefore(row, rows[index - 1]);
    } else if (button.dataset.move === "down" && index < rows.length - 1) {
      row.parentElement.insertBefore(rows[index + 1], row);
    }
    button.focus();
    announce(row);
  });

  refresh();
})();
