// The list page (no inline code: the CSP forbids it). The URL describes the list completely;
// this script only builds new URLs and navigates to them, except for two things that stay on
// the page: column widths (kept in the URL with history.replaceState) and moving kanban cards
// (a PATCH of the record with its version, like the API's If-Match).
//
// * Filter builder: groups (all / any, negated or not) of numbered conditions, kept in step
//   with a logic text box ("1 AND (2 OR NOT 3)"); applied as f=field:op:value and logic=.
// * Sorting: a click on a header sorts by it alone; Shift-click adds it as the next level
//   (the server renders both links, so this only follows the second one).
// * Columns: a chooser (show, hide, reorder by buttons or dragging) and resizable headers.
// * Bulk actions: row checkboxes, "select all N matching", a confirmation naming the count.
// * Kanban: drag a card (or use its "move to" select) into another column.
(() => {
  "use strict";

  const metaElement = document.getElementById("list-meta");
  if (!metaElement) return;
  const meta = JSON.parse(metaElement.textContent);
  const T = JSON.parse(document.getElementById("list-text").textContent);
  const fields = new Map(meta.fields.map((f) => [f.key, f]));
  const fmt = (text, values) =>
    text.replace(/\{(\w+)\}/g, (match, key) => (key in values ? String(values[key]) : match));

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const notice = (message, kind = "warning") => {
    const box = document.getElementById("list-notice");
    if (!box) return;
    box.className = `alert alert-${kind}`;
    box.textContent = message;
  };

  const params = () => new URLSearchParams(window.location.search);
  const urlOf = (search) => {
    search.delete("cursor");
    const query = search.toString();
    return meta.index + (query ? `?${query}` : "");
  };
  const go = (search) => window.location.assign(urlOf(search));

  // The save forms carry the list's URL: keep them in step with changes made on the page.
  function syncState(search) {
    search.delete("cursor");
    document.querySelectorAll("input[data-state]").forEach((input) => {
      input.value = search.toString();
    });
    document.querySelectorAll("[data-save-view]").forEach((form) => form.classList.remove("d-none"));
  }

  // ---- filter builder -------------------------------------------------------------------------

  let nextId = 1;
  const group = (op = "and", children = [], not = false) => ({ type: "group", id: nextId++, op, not, children });
  const condition = (field = "", op = "", value = null) => ({ type: "cond", id: nextId++, field, op, value });
  const clone = (node) =>
    node.type === "cond"
      ? condition(node.field, node.op, Array.isArray(node.value) ? [...node.value] : node.value)
      : group(node.op, node.children.map(clone), node.not);

  function normalValue(value) {
    if (value === null || value === undefined) return null;
    if (Array.isArray(value)) return value.map((v) => String(v));
    return String(value);
  }

  function fromJson(node) {
    if (!node || typeof node !== "object") return null;
    for (const op of ["and", "or"]) {
      if (Array.isArray(node[op])) return group(op, node[op].map(fromJson).filter(Boolean));
    }
    if ("not" in node) {
      const inner = fromJson(node.not);
      if (!inner) return null;
      if (inner.type === "group") {
        inner.not = !inner.not;
        return inner;
      }
      return group("and", [inner], true);
    }
    return condition(node.field || "", node.op || "", normalValue(node.value));
  }

  function operatorOf(cond) {
    const field = fields.get(cond.field);
    return field ? field.operators.find((o) => o.op === cond.op) : undefined;
  }

  // Numbers conditions in the order they show (1, 2, 3…), complete or not.
  function numbered(root) {
    const list = [];
    const walk = (node) => {
      if (node.type === "cond") node.n = list.push(node);
      else node.children.forEach(walk);
    };
    walk(root);
    return list;
  }

  // The tree without conditions that name no field, and without groups left empty.
  function complete(node) {
    if (node.type === "cond") return node.field && node.op ? clone(node) : null;
    const children = node.children.map(complete).filter(Boolean);
    return children.length ? group(node.op, children, node.not) : null;
  }

  function logicText(node, top) {
    if (node.type === "cond") return String(node.n);
    const parts = node.children.map((child) => logicText(child, false)).filter(Boolean);
    if (!parts.length) return "";
    const inner = parts.join(node.op === "and" ? " AND " : " OR ");
    if (node.not) return `NOT ${parts.length > 1 ? `(${inner})` : inner}`;
    return top || parts.length < 2 ? inner : `(${inner})`;
  }

  const isSimple = (root) => !root.not && root.op === "and" && root.children.every((c) => c.type === "cond");

  function parseLogic(text, count) {
    const tokens = [];
    const pattern = /\s*(?:(\d+)|(AND|OR|NOT)\b|(\()|(\)))/iy;
    let pos = 0;
    while (pos < text.length && text.slice(pos).trim()) {
      pattern.lastIndex = pos;
      const match = pattern.exec(text);
      const start = pos + (text.slice(pos).length - text.slice(pos).trimStart().length);
      if (!match) throw { pos: start };
      const [, number, word, open] = match;
      tokens.push({ kind: number ? "num" : word ? "word" : open ? "(" : ")", value: (number || word || match[0].trim()).toUpperCase(), pos: start });
      pos = pattern.lastIndex;
    }
    let i = 0;
    const peek = () => tokens[i];
    const take = () => {
      if (i >= tokens.length) throw { pos: text.length };
      return tokens[i++];
    };
    const used = new Set();
    const expr = () => {
      const kids = [term()];
      while (peek() && peek().value === "OR") {
        take();
        kids.push(term());
      }
      return kids.length === 1 ? kids[0] : { op: "or", kids };
    };
    const term = () => {
      const kids = [factor()];
      while (peek() && peek().value === "AND") {
        take();
        kids.push(factor());
      }
      return kids.length === 1 ? kids[0] : { op: "and", kids };
    };
    const factor = () => {
      const token = take();
      if (token.value === "NOT") return { op: "not", kids: [factor()] };
      if (token.kind === "(") {
        const inner = expr();
        const closing = take();
        if (closing.kind !== ")") throw { pos: closing.pos };
        return inner;
      }
      if (token.kind === "num") {
        const n = Number(token.value);
        if (n < 1 || n > count) throw { missing: n };
        used.add(n);
        return { num: n };
      }
      throw { pos: token.pos };
    };
    const ast = expr();
    if (i < tokens.length) throw { pos: tokens[i].pos };
    for (let n = 1; n <= count; n++) if (!used.has(n)) throw { unused: n };
    return ast;
  }

  function fromAst(ast, conditions) {
    if (ast.num) return clone(conditions[ast.num - 1]);
    if (ast.op === "not") {
      const inner = fromAst(ast.kids[0], conditions);
      if (inner.type === "group") {
        inner.not = !inner.not;
        return inner;
      }
      return group("and", [inner], true);
    }
    return group(ast.op, ast.kids.map((kid) => fromAst(kid, conditions)));
  }

  function encodeValue(value) {
    const escape = (v) => String(v).replace(/,/g, "\\,");
    if (value === null || value === undefined) return null;
    if (Array.isArray(value)) return value.map(escape).join(",");
    return escape(value);
  }

  // Inputs for a value of a kind; ``onChange`` receives the new value.
  function valueInput(field, value, label, onChange, { multiple = false, name } = {}) {
    const kind = field.kind;
    const options = (list, current) =>
      list.map(([code, text]) => el("option", { value: code, selected: multiple ? (current || []).includes(code) : current === code, text }));
    let input;
    if (["choice", "choices", "user", "boolean"].includes(kind)) {
      let list;
      if (kind === "user") list = meta.members.map((m) => [String(m.id), m.name]);
      else if (kind === "boolean") list = [["true", T.yes], ["false", T.no]];
      else list = (field.choices || []).filter((c) => c.active || (value || []).includes?.(c.code) || value === c.code).map((c) => [c.code, c.label]);
      input = el(
        "select",
        { class: "form-select form-select-sm", multiple, size: multiple ? Math.min(Math.max(list.length, 2), 5) : undefined, "aria-label": label, name },
        multiple ? [] : [el("option", { value: "", text: "—" })],
        options(list, value),
      );
      input.addEventListener("change", () => onChange(multiple ? [...input.selectedOptions].map((o) => o.value) : input.value || null));
      return input;
    }
    if (multiple) {
      input = el("input", { class: "form-control form-control-sm", type: "text", value: (value || []).join(", "), placeholder: T.listHint, "aria-label": label, name });
      input.addEventListener("input", () => onChange(input.value.split(",").map((v) => v.trim()).filter(Boolean)));
      return input;
    }
    const type = { number: "number", id: "number", reference: "number", date: "date", datetime: "date" }[kind] || "text";
    input = el("input", { class: "form-control form-control-sm", type, value: value ?? "", "aria-label": label, name, step: type === "number" ? "any" : undefined });
    input.addEventListener("input", () => onChange(input.value));
    return input;
  }

  const builderRoot = document.getElementById("filter-builder");
  let root = fromJson(meta.filter);
  if (!root) root = group("and", []);
  else if (root.type === "cond") root = group("and", [root]);
  let focusAfter = null;

  function applyFilter() {
    let tree = complete(root) || group("and", []);
    if (tree.type === "cond") tree = group("and", [tree]);
    const conditions = numbered(tree);
    const search = params();
    ["f", "logic", "filter"].forEach((key) => search.delete(key));
    for (const cond of conditions) {
      const arity = operatorOf(cond)?.arity;
      const value = arity === "none" ? null : encodeValue(cond.value);
      search.append("f", `${cond.field}:${cond.op}${value === null ? "" : `:${value}`}`);
    }
    if (conditions.length && !isSimple(tree)) search.set("logic", logicText(tree, true));
    if (!conditions.length && meta.viewHasFilter) search.set("filter", "");
    go(search);
  }

  function conditionRow(cond, parent) {
    const field = fields.get(cond.field);
    const number = String(cond.n);
    const fieldSelect = el(
      "select",
      { class: "form-select form-select-sm", "aria-label": `${T.field} ${number}`, dataset: { focus: `${cond.id}:field` } },
      el("option", { value: "", text: T.chooseField }),
      meta.fields.filter((f) => f.operators.length).map((f) => el("option", { value: f.key, selected: f.key === cond.field, text: f.label })),
    );
    fieldSelect.addEventListener("change", () => {
      cond.field = fieldSelect.value;
      cond.op = fields.get(cond.field)?.operators[0]?.op || "";
      cond.value = null;
      focusAfter = `${cond.id}:op`;
      render();
    });
    const parts = [el("span", { class: "badge text-bg-secondary filter-number", text: number }), fieldSelect];
    if (field) {
      const opSelect = el(
        "select",
        { class: "form-select form-select-sm", "aria-label": `${T.operator} ${number}`, dataset: { focus: `${cond.id}:op` } },
        field.operators.map((o) => el("option", { value: o.op, selected: o.op === cond.op, text: o.label })),
      );
      opSelect.addEventListener("change", () => {
        const before = operatorOf(cond)?.arity;
        cond.op = opSelect.value;
        if (operatorOf(cond)?.arity !== before) cond.value = null;
        focusAfter = `${cond.id}:op`;
        render();
      });
      parts.push(opSelect);
      const arity = operatorOf(cond)?.arity;
      const label = `${T.value} ${number}`;
      if (arity === "one") parts.push(valueInput(field, cond.value, label, (v) => (cond.value = v)));
      else if (arity === "list") parts.push(valueInput(field, cond.value || [], label, (v) => (cond.value = v), { multiple: true }));
      else if (arity === "days") {
        const days = el("input", { class: "form-control form-control-sm", type: "number", min: "1", max: "36600", step: "1", value: cond.value ?? "", "aria-label": `${T.days} ${number}`, placeholder: T.days });
        days.addEventListener("input", () => (cond.value = days.value));
        parts.push(days);
      } else if (arity === "two") {
        const pair = Array.isArray(cond.value) ? cond.value : ["", ""];
        cond.value = pair;
        parts.push(
          valueInput(field, pair[0], `${T.from} ${number}`, (v) => (pair[0] = v ?? "")),
          valueInput(field, pair[1], `${T.to} ${number}`, (v) => (pair[1] = v ?? "")),
        );
      }
    }
    parts.push(
      el("button", {
        type: "button",
        class: "btn btn-sm btn-outline-secondary",
        "aria-label": fmt(T.removeCondition, { n: number }),
        text: "×",
        onclick: () => {
          parent.children.splice(parent.children.indexOf(cond), 1);
          render();
        },
      }),
    );
    return el("li", { class: "d-flex flex-wrap gap-1 align-items-center mb-1", dataset: { testid: "condition" } }, parts);
  }

  function groupBox(node, parent) {
    const opSelect = el(
      "select",
      { class: "form-select form-select-sm", "aria-label": T.group, dataset: { focus: `${node.id}:group` } },
      el("option", { value: "and", selected: node.op === "and", text: T.all }),
      el("option", { value: "or", selected: node.op === "or", text: T.any }),
    );
    opSelect.addEventListener("change", () => {
      node.op = opSelect.value;
      focusAfter = `${node.id}:group`;
      render();
    });
    const notId = `not-${node.id}`;
    const notBox = el("input", { class: "form-check-input", type: "checkbox", id: notId, checked: node.not, dataset: { focus: `${node.id}:not` } });
    notBox.addEventListener("change", () => {
      node.not = notBox.checked;
      focusAfter = `${node.id}:not`;
      render();
    });
    const head = el(
      "div",
      { class: "d-flex flex-wrap gap-2 align-items-center mb-1" },
      opSelect,
      el("div", { class: "form-check mb-0" }, notBox, el("label", { class: "form-check-label", for: notId, text: T.not })),
      parent
        ? el("button", {
            type: "button",
            class: "btn btn-sm btn-link text-danger",
            text: T.removeGroup,
            onclick: () => {
              parent.children.splice(parent.children.indexOf(node), 1);
              render();
            },
          })
        : null,
    );
    const list = el(
      "ol",
      { class: "list-unstyled mb-1" },
      node.children.map((child) => (child.type === "cond" ? conditionRow(child, node) : el("li", {}, groupBox(child, node)))),
    );
    const add = el(
      "div",
      { class: "d-flex gap-2" },
      el("button", {
        type: "button",
        class: "btn btn-sm btn-outline-primary",
        text: T.addCondition,
        dataset: { testid: parent ? "add-condition-in-group" : "add-condition" },
        onclick: () => {
          const cond = condition();
          node.children.push(cond);
          focusAfter = `${cond.id}:field`;
          render();
        },
      }),
      el("button", {
        type: "button",
        class: "btn btn-sm btn-outline-secondary",
        text: T.addGroup,
        dataset: { testid: parent ? "add-group-in-group" : "add-group" },
        onclick: () => {
          const cond = condition();
          node.children.push(group(node.op === "and" ? "or" : "and", [cond]));
          focusAfter = `${cond.id}:field`;
          render();
        },
      }),
    );
    return el("div", { class: `filter-group${node.not ? " is-not" : ""}`, role: "group", "aria-label": node.op === "and" ? T.all : T.any }, head, list, add);
  }

  function render() {
    if (!builderRoot) return;
    const conditions = numbered(root);
    const logic = el("input", {
      class: "form-control form-control-sm font-monospace",
      id: "filter-logic",
      value: conditions.length && !isSimple(root) ? logicText(root, true) : "",
      placeholder: conditions.map((c) => c.n).join(" AND "),
      "aria-describedby": "filter-logic-help",
      dataset: { testid: "filter-logic" },
    });
    const error = el("div", { class: "invalid-feedback d-block", id: "filter-logic-error", role: "alert" });
    logic.addEventListener("change", () => {
      const text = logic.value.trim();
      try {
        if (!text) root = group("and", conditions.map(clone));
        else {
          const built = fromAst(parseLogic(text, conditions.length), conditions);
          root = built.type === "group" ? built : group("and", [built]);
        }
        focusAfter = "logic";
        render();
      } catch (problem) {
        logic.classList.add("is-invalid");
        if (problem.missing) error.textContent = fmt(T.logicMissing, { n: problem.missing });
        else if (problem.unused) error.textContent = fmt(T.logicUnused, { n: problem.unused });
        else error.textContent = fmt(T.logicError, { pos: (problem.pos ?? 0) + 1 });
      }
    });
    logic.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        logic.dispatchEvent(new Event("change"));
        if (!logic.classList.contains("is-invalid")) applyFilter();
      }
    });
    const parts = [
      el("div", { class: "filter-builder" }, groupBox(root, null)),
      conditions.length ? null : el("p", { class: "text-muted small mb-2", text: T.noConditions }),
      el(
        "div",
        { class: "mt-2" },
        el("label", { class: "form-label small mb-1", for: "filter-logic", text: T.logic }),
        logic,
        error,
        el("div", { class: "form-text", id: "filter-logic-help", text: T.logicHelp }),
      ),
      el(
        "div",
        { class: "d-flex gap-2 mt-2" },
        el("button", { type: "button", class: "btn btn-primary btn-sm", text: T.apply, dataset: { testid: "apply-filter" }, onclick: () => {
          if (document.activeElement === logic) logic.dispatchEvent(new Event("change"));
          if (!logic.classList.contains("is-invalid")) applyFilter();
        } }),
        el("button", { type: "button", class: "btn btn-outline-secondary btn-sm", text: T.clear, onclick: () => {
          root = group("and", []);
          applyFilter();
        } }),
      ),
    ];
    builderRoot.replaceChildren(...parts.filter(Boolean));
    if (focusAfter) {
      const target = focusAfter === "logic" ? logic : builderRoot.querySelector(`[data-focus="${focusAfter}"]`);
      target?.focus();
      focusAfter = null;
    }
  }

  if (builderRoot) {
    render();
    // Enter in a value applies the filter, like a search box.
    builderRoot.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.matches("input:not(#filter-logic)")) {
        event.preventDefault();
        event.target.dispatchEvent(new Event("input"));
        applyFilter();
      }
    });
  }

  // ---- sorting: Shift-click adds a level -------------------------------------------------------

  document.querySelectorAll("a.sort-link").forEach((link) => {
    link.addEventListener("click", (event) => {
      if (!event.shiftKey) return;
      event.preventDefault();
      if (link.dataset.shiftHref) window.location.assign(link.dataset.shiftHref);
      else notice(fmt(T.sortMax, { n: meta.maxSort }));
    });
  });

  // ---- columns: widths and the chooser --------------------------------------------------------

  const columnParam = (columns) => columns.map((c) => (c.width ? `${c.key}:${c.width}` : c.key)).join(",");
  const table = document.querySelector("table.list-table");
  const setWidth = (th, width) => {
    const w = Math.round(Math.min(2000, Math.max(40, width)));
    th.style.width = `${w}px`;
    th.style.minWidth = `${w}px`;
    th.dataset.width = String(w);
  };

  function keepWidths() {
    const widths = new Map([...table.querySelectorAll("th[data-key]")].map((th) => [th.dataset.key, th.dataset.width ? Number(th.dataset.width) : null]));
    const columns = meta.columns.map((c) => ({ key: c.key, width: widths.get(c.key) ?? c.width }));
    meta.columns = columns;
    const search = params();
    search.set("columns", columnParam(columns));
    window.history.replaceState(null, "", urlOf(search));
    syncState(search);
  }

  if (table) {
    table.querySelectorAll("th[data-key]").forEach((th) => {
      if (th.dataset.width) setWidth(th, Number(th.dataset.width));
      const handle = th.querySelector(".col-resize");
      if (!handle) return;
      handle.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        const startX = event.clientX;
        const startWidth = th.getBoundingClientRect().width;
        handle.setPointerCapture(event.pointerId);
        const move = (e) => setWidth(th, startWidth + e.clientX - startX);
        const up = () => {
          handle.removeEventListener("pointermove", move);
          handle.removeEventListener("pointerup", up);
          keepWidths();
        };
        handle.addEventListener("pointermove", move);
        handle.addEventListener("pointerup", up);
      });
      handle.addEventListener("keydown", (event) => {
        const step = { ArrowLeft: -16, ArrowRight: 16 }[event.key];
        if (!step) return;
        event.preventDefault();
        setWidth(th, th.getBoundingClientRect().width + step);
        keepWidths();
      });
    });
  }

  const chooser = document.getElementById("column-chooser");
  const columnList = chooser?.querySelector(".column-list");
  function chooserItem(key, label, checked) {
    const id = `col-${key}`;
    const item = el("li", { class: "list-group-item", draggable: "true", dataset: { key } });
    const move = (delta) => {
      const sibling = delta < 0 ? item.previousElementSibling : item.nextElementSibling;
      if (!sibling) return;
      if (delta < 0) sibling.before(item);
      else sibling.after(item);
      item.querySelector(delta < 0 ? "[data-up]" : "[data-down]").focus();
    };
    item.append(
      el("input", { class: "form-check-input", type: "checkbox", id, checked, "aria-label": fmt(T.show, { name: label }) }),
      el("label", { class: "column-label", for: id, text: label }),
      el("button", { type: "button", class: "btn btn-sm btn-outline-secondary", "data-up": true, "aria-label": fmt(T.moveUp, { name: label }), text: "↑", onclick: () => move(-1) }),
      el("button", { type: "button", class: "btn btn-sm btn-outline-secondary", "data-down": true, "aria-label": fmt(T.moveDown, { name: label }), text: "↓", onclick: () => move(1) }),
    );
    return item;
  }
  if (chooser && columnList) {
    chooser.addEventListener("show.bs.modal", () => {
      const shown = new Set(meta.columns.map((c) => c.key));
      columnList.replaceChildren(
        ...meta.columns.filter((c) => fields.has(c.key)).map((c) => chooserItem(c.key, fields.get(c.key).label, true)),
        ...meta.fields.filter((f) => !shown.has(f.key)).map((f) => chooserItem(f.key, f.label, false)),
      );
    });
    let dragged = null;
    columnList.addEventListener("dragstart", (event) => {
      dragged = event.target.closest("li");
      dragged?.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged?.dataset.key || "");
    });
    columnList.addEventListener("dragover", (event) => {
      const over = event.target.closest("li");
      if (!dragged || !over || over === dragged) return;
      event.preventDefault();
      const box = over.getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) over.before(dragged);
      else over.after(dragged);
    });
    columnList.addEventListener("dragend", () => {
      dragged?.classList.remove("dragging");
      dragged = null;
    });
    chooser.querySelector("[data-columns-apply]").addEventListener("click", () => {
      const widths = new Map(meta.columns.map((c) => [c.key, c.width]));
      const chosen = [...columnList.children]
        .filter((li) => li.querySelector("input").checked)
        .map((li) => ({ key: li.dataset.key, width: widths.get(li.dataset.key) || null }));
      const search = params();
      search.set("columns", columnParam(chosen));
      go(search);
    });
  }

  // ---- share fieldsets: the role or team list of the chosen visibility -------------------------

  document.querySelectorAll("[data-share]").forEach((fieldset) => {
    const sync = () => {
      const chosen = fieldset.querySelector("[data-visibility]:checked")?.value;
      fieldset.querySelectorAll("[data-share-list]").forEach((list) => {
        list.hidden = list.dataset.shareList !== chosen;
      });
    };
    fieldset.addEventListener("change", sync);
    sync();
  });

  // ---- bulk actions ---------------------------------------------------------------------------

  const bulk = document.getElementById("bulk-form");
  if (bulk) {
    const checks = [...document.querySelectorAll(".row-check")];
    const pageBox = document.getElementById("check-page");
    const allInput = bulk.querySelector("[data-bulk-all]");
    const selectAll = bulk.querySelector("[data-bulk-select-all]");
    const countLabel = bulk.querySelector("[data-bulk-count]");
    const action = bulk.querySelector("#bulk-action");
    const fieldSelect = bulk.querySelector("#bulk-field");
    const valueBox = bulk.querySelector("[data-bulk-value]");
    const confirmBox = document.getElementById("bulk-confirm");
    let allMatching = false;

    const selectedCount = () => (allMatching ? Number(selectAll.dataset.count) : checks.filter((c) => c.checked).length);
    const recordsText = (n) => (n === 1 ? T.recordsOne : fmt(T.recordsMany, { n: n.toLocaleString() }));
    function refresh() {
      const n = checks.filter((c) => c.checked).length;
      bulk.classList.toggle("d-none", n === 0);
      allInput.disabled = !allMatching;
      if (pageBox) {
        pageBox.checked = n > 0 && n === checks.length;
        pageBox.indeterminate = n > 0 && n < checks.length;
      }
      if (allMatching) countLabel.textContent = fmt(T.allSelected, { n: Number(selectAll.dataset.count).toLocaleString() });
      else countLabel.textContent = n === 1 ? T.selectedOne : fmt(T.selectedMany, { n });
      if (selectAll) selectAll.hidden = allMatching || n !== checks.length;
      const merge = bulk.querySelector("[data-bulk-merge]"); // 2–5 rows: compare and merge them
      if (merge) merge.hidden = allMatching || n < 2 || n > 5;
    }
    checks.forEach((box) =>
      box.addEventListener("change", () => {
        allMatching = false;
        refresh();
      }),
    );
    pageBox?.addEventListener("change", () => {
      checks.forEach((box) => (box.checked = pageBox.checked));
      allMatching = false;
      refresh();
    });
    selectAll?.addEventListener("click", () => {
      checks.forEach((box) => (box.checked = true));
      allMatching = true;
      refresh();
    });

    const editable = meta.fields.filter((f) => f.editable);
    fieldSelect.replaceChildren(...editable.map((f) => el("option", { value: f.key, text: f.label })));
    const showValue = () => {
      const field = fields.get(fieldSelect.value);
      if (!field) return;
      valueBox.replaceChildren(
        valueInput(field, field.kind === "choices" ? [] : null, T.value, () => {}, { multiple: field.kind === "choices", name: "value" }),
      );
    };
    fieldSelect.addEventListener("change", showValue);
    showValue();
    const showPart = () => {
      bulk.querySelectorAll("[data-bulk-part]").forEach((part) => {
        const on = part.dataset.bulkPart.split(" ").includes(action.value);
        part.classList.toggle("d-none", !on);
        part.classList.toggle("d-flex", on && part.dataset.bulkPart === "update");
        part.querySelectorAll("input, select").forEach((input) => (input.disabled = !on));
      });
    };
    action.addEventListener("change", showPart);
    showPart();

    bulk.querySelector("[data-bulk-apply]").addEventListener("click", () => {
      const n = selectedCount();
      bulk.querySelector("[data-bulk-expected]").value = String(n);
      const count = recordsText(n);
      const valueInputEl = valueBox.querySelector("[name=value]");
      const valueText = valueInputEl?.tagName === "SELECT"
        ? [...valueInputEl.selectedOptions].map((o) => o.text).join(", ")
        : valueInputEl?.value || "";
      const summary = {
        update: () => fmt(T.confirmUpdate, { field: fieldSelect.selectedOptions[0]?.text || "", value: valueText, count }),
        owner: () => fmt(T.confirmOwner, { owner: bulk.querySelector("#bulk-owner").selectedOptions[0]?.text || "", count }),
        tag: () => fmt(T.confirmTag, { tag: bulk.querySelector("#bulk-tag").value, count }),
        untag: () => fmt(T.confirmUntag, { tag: bulk.querySelector("#bulk-tag").value, count }),
        delete: () => fmt(T.confirmDelete, { count }),
      }[action.value]();
      confirmBox.querySelector("[data-bulk-summary]").textContent = summary;
      window.bootstrap.Modal.getOrCreateInstance(confirmBox).show();
    });
    confirmBox.querySelector("[data-bulk-confirm]").addEventListener("click", () => {
      if (!allMatching) allInput.disabled = true;
      bulk.submit();
    });
    refresh();
  }

  // ---- kanban -----------------------------------------------------------------------------------

  const board = document.querySelector("[data-testid=kanban]");
  const colourPattern = /^(#[0-9a-f]{3,8}|[a-z]+)$/i;
  function bindBoard() {
    board.querySelectorAll(".kanban-dot[data-colour]").forEach((dot) => {
      if (colourPattern.test(dot.dataset.colour)) dot.style.backgroundColor = dot.dataset.colour;
    });
  }
  const columnFor = (code) =>
    [...board.querySelectorAll(".kanban-column")].find((c) => c.dataset.code === (code ?? ""));
  function bump(column, delta) {
    const counter = column.querySelector("[data-testid=kanban-count]");
    if (counter && /^\d+$/.test(counter.textContent.trim())) counter.textContent = String(Number(counter.textContent) + delta);
  }

  async function reloadBoard() {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector("[data-testid=kanban]");
      if (fresh) board.replaceChildren(...fresh.children);
      bindBoard();
    } catch {
      notice(T.network, "danger");
    }
  }

  async function moveCard(card, target) {
    const from = card.closest(".kanban-column");
    if (!target || target === from) return;
    const name = card.dataset.name;
    const code = target.dataset.code || null;
    target.querySelector("[data-dropzone]").prepend(card);
    card.classList.add("busy");
    let response;
    let body = {};
    try {
      response = await fetch(meta.index + card.dataset.id, {
        method: "PATCH",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "If-Match": `"v${card.dataset.version}"`,
          "X-CSRFToken": meta.csrf,
        },
        body: JSON.stringify({ [meta.groupBy]: code }),
      });
      body = await response.json().catch(() => ({}));
    } catch {
      from.querySelector("[data-dropzone]").prepend(card);
      card.classList.remove("busy");
      notice(T.network, "danger");
      return;
    }
    card.classList.remove("busy");
    if (response.ok) {
      card.dataset.version = String(body.version);
      const select = card.querySelector(".kanban-move");
      if (select) select.value = target.dataset.code;
      bump(from, -1);
      bump(target, 1);
      notice(fmt(T.moved, { name, column: target.querySelector("h2").textContent.trim() }), "success");
    } else if (response.status === 412) {
      notice(fmt(T.conflict, { name }), "warning");
      await reloadBoard();
    } else {
      from.querySelector("[data-dropzone]").prepend(card);
      const select = card.querySelector(".kanban-move");
      if (select) select.value = from.dataset.code;
      notice(fmt(T.moveFailed, { name, message: body.message || response.statusText }), "danger");
    }
  }

  if (board) {
    bindBoard();
    let dragged = null;
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
      if (!dragged || !column) return;
      event.preventDefault();
      board.querySelectorAll(".drop-target").forEach((c) => c !== column && c.classList.remove("drop-target"));
      column.classList.add("drop-target");
    });
    board.addEventListener("drop", (event) => {
      const column = event.target.closest?.(".kanban-column");
      if (!dragged || !column) return;
      event.preventDefault();
      column.classList.remove("drop-target");
      moveCard(dragged, column);
    });
    board.addEventListener("change", (event) => {
      if (!event.target.matches(".kanban-move")) return;
      const card = event.target.closest(".kanban-card");
      moveCard(card, columnFor(event.target.value));
    });
  }
})();
