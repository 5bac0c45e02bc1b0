// Progressive enhancement of the sales pages: the pipeline board (drag a card to another stage,
// or use its stage select; a lost stage asks for the reason first) and the lead scoring editor
// (a rule's operators follow its field). Without scripts both pages work through their forms.
(() => {
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));

  // ---- pipeline board ---------------------------------------------------------------------
  const board = document.querySelector("[data-testid=pipeline-board]");
  const status = document.getElementById("board-status");
  const announce = (text) => {
    if (status) status.textContent = text;
  };

  function askReason() {
    const dialog = document.getElementById("lost-dialog");
    const Modal = window.bootstrap && window.bootstrap.Modal;
    if (!dialog || !Modal) return Promise.resolve(window.prompt(dialog?.querySelector("h2")?.textContent || ""));
    return new Promise((resolve) => {
      const modal = Modal.getOrCreateInstance(dialog);
      const form = dialog.querySelector("form");
      const input = dialog.querySelector("textarea");
      let answer = null;
      input.value = "";
      const submit = (event) => {
        event.preventDefault();
        if (!input.value.trim()) return input.focus();
        answer = input.value.trim();
        modal.hide();
      };
      form.addEventListener("submit", submit);
      dialog.addEventListener("shown.bs.modal", () => input.focus(), { once: true });
      dialog.addEventListener(
        "hidden.bs.modal",
        () => {
          form.removeEventListener("submit", submit);
          resolve(answer);
        },
        { once: true },
      );
      modal.show();
    });
  }

  async function refresh() {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["pipeline-board", "pipeline-totals"]) {
        const fresh = doc.querySelector(`[data-testid=${id}]`);
        const here = document.querySelector(`[data-testid=${id}]`);
        if (fresh && here) here.replaceChildren(...fresh.children);
      }
      bind();
    } catch {
      announce(board.dataset.network);
    }
  }

  async function move(card, stage) {
    const form = card.querySelector("form.pipeline-move");
    if (!form) return;
    const name = card.dataset.name;
    const lost = (board.dataset.lost || "").split(",").filter(Boolean);
    let reason = form.querySelector(".pipeline-reason")?.value.trim() || "";
    if (lost.includes(stage) && !reason) {
      reason = (await askReason()) || "";
      if (!reason) return;
    }
    const body = new FormData(form);
    body.set("stage", stage);
    body.set("lost_reason", reason);
    card.classList.add("busy");
    let response;
    let answer = {};
    try {
      response = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      answer = await response.json().catch(() => ({}));
    } catch {
      card.classList.remove("busy");
      announce(board.dataset.network);
      return;
    }
    const column = board.querySelector(`.kanban-column[data-code="${CSS.escape(stage)}"] h2`);
    if (response.ok) announce(fmt(board.dataset.moved, { name, column: column ? column.textContent.trim() : stage }));
    else announce(fmt(board.dataset.failed, { name, message: answer.message || response.statusText }));
    await refresh();
  }

  const colourPattern = /^(#[0-9a-f]{3,8}|[a-z]+)$/i;
  function bind() {
    board.querySelectorAll(".pipeline-reason").forEach((input) => {
      input.hidden = true; // the dialog asks when it matters
    });
    board.querySelectorAll(".kanban-dot[data-colour]").forEach((dot) => {
      if (colourPattern.test(dot.dataset.colour)) dot.style.backgroundColor = dot.dataset.colour;
    });
  }

  if (board) {
    bind();
    let dragged = null;
    board.addEventListener("submit", (event) => {
      const form = event.target.closest("form.pipeline-move");
      if (!form) return;
      event.preventDefault();
      move(form.closest(".kanban-card"), form.querySelector("select[name=stage]").value);
    });
    board.addEventListener("dragstart", (event) => {
      dragged = event.target.closest?.(".kanban-card[draggable=true]");
      if (!dragged) return;
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.id);
    });
    board.addEventListener("dragend", () => {
      dragged?.classList.remove("dragging");
      board.querySelectorAll(".drop-target").forEach((c) => c.classList.remove("drop-target"));
      dragged = null;
    });
    board.addEventListener("dragover", (event) => {
      const column = event.target.closest?.(".kanban-column");
      if (!dragged || !column || !column.dataset.code) return;
      event.preventDefault();
      board.querySelectorAll(".drop-target").forEach((c) => c !== column && c.classList.remove("drop-target"));
      column.classList.add("drop-target");
    });
    board.addEventListener("drop", (event) => {
      const column = event.target.closest?.(".kanban-column");
      if (!dragged || !column || !column.dataset.code) return;
      event.preventDefault();
      column.classList.remove("drop-target");
      const card = dragged;
      if (card.closest(".kanban-column") !== column) move(card, column.dataset.code);
    });
  }

  // ---- lead scoring editor ----------------------------------------------------------------
  const rules = document.querySelector("[data-testid=rules]");
  if (rules) {
    const allowed = JSON.parse(rules.dataset.fields || "{}");
    const follow = (row) => {
      const field = row.querySelector(".rule-field").value;
      const select = row.querySelector(".rule-op");
      const ops = allowed[field];
      for (const option of select.options) option.hidden = Boolean(ops) && !ops.includes(option.value);
      if (ops && !ops.includes(select.value) && ops.length) select.value = ops[0];
      // A picklist offers its codes while typing the value.
      const value = row.querySelector("input[id$='-value']");
      if (value && document.getElementById(`choices-${field}`)) value.setAttribute("list", `choices-${field}`);
      else value?.removeAttribute("list");
    };
    rules.querySelectorAll("tbody tr").forEach(follow);
    rules.addEventListener("change", (event) => {
      if (event.target.matches(".rule-field")) follow(event.target.closest("tr"));
    });
  }
})();
