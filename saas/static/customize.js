// Progressive enhancement for the customization pages (no inline code: the CSP forbids it).
//
// * Rows in a [data-sortable] container can be dragged by their [data-drag-handle]. When the
//   container names a form (data-sortable-form), the new order is posted as "keys" at once.
// * In a [data-values-editor] (picklist values), the ↑/↓ buttons move rows here instead of
//   posting, "Add a value" appends a row from the <template>, and new rows can be removed.
//   The server reads the rows in the order the browser sends them, which is the order on screen.
// Without this script every action still works through ordinary form posts.
(() => {
  "use strict";

  const items = (container) =>
    Array.from(container.children).filter((el) => el.matches("[data-sortable-item]"));
  const orderOf = (container) => items(container).map((row) => row.dataset.key || "");

  function announce(element, message) {
    const live = element.closest("[data-values-editor]")?.querySelector("[data-live]");
    if (live && message) live.textContent = message;
  }

  function submitOrder(container) {
    const form = document.getElementById(container.dataset.sortableForm || "");
    if (!form) return;
    form.querySelectorAll("input[name='keys']").forEach((input) => input.remove());
    for (const key of orderOf(container)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "keys";
      input.value = key;
      form.append(input);
    }
    form.requestSubmit();
  }

  function enableHandles(root) {
    root.querySelectorAll("[data-drag-handle]").forEach((handle) => {
      handle.hidden = false;
      handle.draggable = true;
    });
    root.querySelectorAll("[data-remove-row], [data-add-row]").forEach((button) => {
      button.hidden = false;
    });
  }

  // --- drag and drop ------------------------------------------------------------------
  let dragged = null;
  let before = null;

  document.addEventListener("dragstart", (event) => {
    const handle = event.target.closest?.("[data-drag-handle]");
    const row = handle?.closest("[data-sortable-item]");
    if (!row) return;
    dragged = row;
    before = orderOf(row.parentElement).join("\n") + "|" + items(row.parentElement).indexOf(row);
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.key || "");
    event.dataTransfer.setDragImage(row, 8, 8);
  });

  document.addEventListener("dragover", (event) => {
    if (!dragged) return;
    const row = event.target.closest?.("[data-sortable-item]");
    if (!row || row.parentElement !== dragged.parentElement) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (row === dragged) return;
    const box = row.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    row.parentElement.insertBefore(dragged, after ? row.nextSibling : row);
  });

  document.addEventListener("drop", (event) => {
    if (dragged) event.preventDefault();
  });

  document.addEventListener("dragend", () => {
    if (!dragged) return;
    const row = dragged;
    const container = row.parentElement;
    dragged = null;
    row.classList.remove("dragging");
    const now = orderOf(container).join("\n") + "|" + items(container).indexOf(row);
    if (now === before) return;
    if (container.dataset.sortableForm) {
      submitOrder(container);
    } else {
      announce(row, container.closest("[data-values-editor]") ? movedMessage(row) : "");
    }
  });

  function movedMessage(row) {
    const code = row.querySelector("input[name$='-code']")?.value || "";
    const position = items(row.parentElement).indexOf(row) + 1;
    return `${code} → ${position}`;
  }

  // --- picklist value editor ----------------------------------------------------------
  document.addEventListener("click", (event) => {
    const move = event.target.closest?.("[data-values-editor] button[data-move]");
    if (move) {
      event.preventDefault();
      const row = move.closest("[data-sortable-item]");
      const sibling =
        move.dataset.move === "up" ? row.previousElementSibling : row.nextElementSibling;
      if (sibling && sibling.matches("[data-sortable-item]")) {
        if (move.dataset.move === "up") row.parentElement.insertBefore(row, sibling);
        else row.parentElement.insertBefore(sibling, row);
        row.classList.add("drop-flash");
        setTimeout(() => row.classList.remove("drop-flash"), 400);
        announce(row, movedMessage(row));
      }
      move.focus();
      return;
    }
    const add = event.target.closest?.("[data-values-editor] [data-add-row]");
    if (add) {
      const editor = add.closest("[data-values-editor]");
      const body = editor.querySelector("tbody[data-sortable]");
      const template = editor.querySelector("template[data-row-template]");
      const index = Number(body.dataset.nextIndex || items(body).length);
      body.dataset.nextIndex = String(index + 1);
      const holder = document.createElement("tbody");
      holder.innerHTML = template.innerHTML.replaceAll("__i__", String(index));
      const row = holder.firstElementChild;
      enableHandles(row);
      body.append(row);
      row.querySelector("input")?.focus();
      return;
    }
    const remove = event.target.closest?.("[data-values-editor] [data-remove-row]");
    if (remove) {
      const row = remove.closest("[data-sortable-item]");
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next?.querySelector("input") || document.querySelector("[data-add-row]"))?.focus();
    }
  });

  enableHandles(document);
})();
