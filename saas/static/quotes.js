// The quote line editor: add, remove and reorder rows, search products, live totals.
// Without this script the form still saves (one blank row adds a line).
(function () {
  "use strict";

  var FIELDS = ["id", "product", "name", "quantity", "unit_price", "discount", "tax_rate"];
  var SENT = ["product", "name", "quantity", "unit_price", "discount", "tax_rate"];

  function rows(form) {
    return Array.prototype.slice.call(form.querySelectorAll("tbody[data-lines] tr[data-line]"));
  }

  function input(row, name) {
    return row.querySelector('[data-field="' + name + '"]');
  }

  function isBlank(row) {
    return SENT.every(function (name) { return !input(row, name).value.trim(); });
  }

  // Inputs are named line-<n>-<field>: n follows the rows' order, as the server reads it.
  function renumber(form) {
    rows(form).forEach(function (row, index) {
      row.querySelectorAll("[name^='line-'], [id^='line-'], label[for^='line-']").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value && value.indexOf("line-") === 0) {
            el.setAttribute(attr, value.replace(/^line-[^-]+-/, "line-" + index + "-"));
          }
        });
      });
      var number = row.querySelector("[data-line-number]");
      if (number) number.textContent = String(index + 1);
    });
  }

  function money(form, amount, currency) {
    if (amount === null || amount === undefined || amount === "") return "";
    var locale = form.dataset.locale === "zh_CN" ? "zh-CN" : "en";
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency: currency }).format(Number(amount));
    } catch (e) {
      return amount + " " + currency;
    }
  }

  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); el.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[data-error]").forEach(function (el) { el.remove(); });
    var box = form.querySelector("[data-editor-errors]");
    box.textContent = "";
    box.classList.add("d-none");
  }

  function mark(el, message) {
    el.classList.add("is-invalid");
    el.setAttribute("aria-invalid", "true");
    var note = document.createElement("div");
    note.className = "invalid-feedback";
    note.dataset.error = "1";
    note.textContent = message;
    el.insertAdjacentElement("afterend", note);
  }

  // Errors name values as lines[2].quantity (the 3rd line sent) or header.header_discount.
  function showErrors(form, errors, sentRows) {
    var box = form.querySelector("[data-editor-errors]");
    Object.keys(errors || {}).forEach(function (path) {
      var messages = [].concat(errors[path]).join(" ");
      var match = /^lines\[(\d+)\]\.?(\w*)/.exec(path);
      var target = null;
      if (match && sentRows[Number(match[1])]) {
        var name = match[2] === "product" ? "product_name" : match[2] || "name";
        target = input(sentRows[Number(match[1])], name);
      } else if (path.indexOf("header.") === 0) {
        target = form.querySelector('[data-header="' + path.slice(7) + '"]');
      }
      if (target) {
        mark(target, messages);
      } else {
        var line = document.createElement("div");
        line.textContent = messages;
        box.appendChild(line);
        box.classList.remove("d-none");
      }
    });
  }

  function header(form) {
    var values = {};
    form.querySelectorAll("[data-header]").forEach(function (el) { values[el.dataset.header] = el.value.trim() || null; });
    return values;
  }

  function editor(form) {
    var template = form.querySelector("template[data-line-template]");
    var body = form.querySelector("tbody[data-lines]");
    var status = form.querySelector("[data-editor-status]");
    var timer = null;
    var asked = 0;

    form.querySelectorAll("[data-add-line], [data-move], [data-remove], [data-keyboard-help]").forEach(function (el) {
      el.classList.remove("d-none");
    });

    function preview() {
      var ticket = ++asked;
      var priced = rows(form).filter(function (row) { return input(row, "quantity").value.trim(); });
      var lines = priced.map(function (row) {
        var line = {};
        SENT.forEach(function (name) {
          var value = input(row, name).value.trim();
          if (value) line[name] = value;
        });
        return line;
      });
      fetch(form.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": form.dataset.csrf },
        body: JSON.stringify({ lines: lines, header: header(form) }),
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (answer) {
        if (ticket !== asked) return; // a newer preview is on its way
        clearErrors(form);
        rows(form).forEach(function (row) { row.querySelector("[data-line-total]").textContent = ""; });
        if (!answer.ok) {
          showErrors(form, answer.data.errors || {}, priced);
          return;
        }
        var result = answer.data;
        priced.forEach(function (row, index) {
          var line = result.lines[index];
          row.querySelector("[data-line-total]").textContent = money(form, line.line_total, result.currency);
          // What an empty price or rate will be: the product's, shown, not typed in.
          input(row, "unit_price").placeholder = line.unit_price;
          input(row, "tax_rate").placeholder = line.tax_rate;
          if (!input(row, "name").value.trim()) input(row, "name").placeholder = line.name;
        });
        ["subtotal", "header_discount", "tax_total", "total"].forEach(function (key) {
          form.querySelector('[data-total="' + key + '"]').textContent = money(form, result[key], result.currency);
        });
        var effective = form.querySelector('[data-total="effective_discount_percent"]');
        var badge = effective.querySelector("[data-needs-approval]");
        effective.firstChild.textContent = Number(result.effective_discount_percent) + "% ";
        badge.classList.toggle("d-none", !result.needs_approval);
      }).catch(function () { /* totals stay as they were: the save checks everything */ });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(preview, 300);
    }

    function addRow(after) {
      var holder = document.createElement("tbody");
      holder.innerHTML = template.innerHTML.trim();
      var row = holder.querySelector("tr");
      row.querySelectorAll("[data-move], [data-remove]").forEach(function (el) { el.classList.remove("d-none"); });
      if (after && after.nextSibling) body.insertBefore(row, after.nextSibling);
      else body.appendChild(row);
      wire(row);
      renumber(form);
      input(row, "product_name").focus();
      return row;
    }

    function move(row, direction) {
      var other = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
      if (!other) return;
      if (direction === "up") body.insertBefore(row, other);
      else body.insertBefore(other, row);
      renumber(form);
      later();
    }

    function productSearch(row) {
      var box = input(row, "product_name");
      var hidden = input(row, "product");
      var list = document.createElement("ul");
      list.className = "list-group position-absolute shadow-sm kehu-lookup-results";
      list.setAttribute("role", "listbox");
      list.id = "products-" + Math.random().toString(36).slice(2);
      box.setAttribute("aria-controls", list.id);
      box.parentNode.classList.add("position-relative");
      box.parentNode.appendChild(list);
      var active = -1;
      var wait = null;

      function close() { list.innerHTML = ""; active = -1; box.setAttribute("aria-expanded", "false"); }
      function choose(item) {
        hidden.value = item.dataset.id;
        box.value = item.textContent;
        close();
        later();
      }
      function show(results) {
        close();
        results.forEach(function (r, i) {
          var li = document.createElement("li");
          li.className = "list-group-item list-group-item-action";
          li.setAttribute("role", "option");
          li.id = list.id + "-" + i;
          li.dataset.id = r.id;
          li.textContent = r.name;
          li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(li); });
          list.appendChild(li);
        });
        box.setAttribute("aria-expanded", results.length ? "true" : "false");
      }
      box.addEventListener("input", function () {
        clearTimeout(wait);
        if (!box.value.trim()) { hidden.value = ""; close(); later(); return; }
        wait = setTimeout(function () {
          fetch(form.dataset.lookupUrl + "?q=" + encodeURIComponent(box.value), { headers: { Accept: "application/json" }, credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : { results: [] }; })
            .then(function (data) { show(data.results || []); });
        }, 200);
      });
      box.addEventListener("keydown", function (event) {
        var items = list.querySelectorAll("li");
        if (!items.length || event.altKey) return;
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
          items.forEach(function (li, i) { li.classList.toggle("active", i === active); });
          box.setAttribute("aria-activedescendant", items[active].id);
        } else if (event.key === "Enter" && active >= 0) {
          event.preventDefault();
          event.stopPropagation();
          choose(items[active]);
        } else if (event.key === "Escape") {
          close();
        }
      });
      box.addEventListener("blur", function () { setTimeout(close, 150); });
    }

    function wire(row) {
      productSearch(row);
      FIELDS.concat(["product_name"]).forEach(function (name) {
        var el = input(row, name);
        if (el && name !== "product_name") el.addEventListener("input", later);
      });
      row.querySelector("[data-remove]").addEventListener("click", function () {
        var next = row.nextElementSibling || row.previousElementSibling;
        if (rows(form).length === 1) {
          addRow(row);
        }
        row.remove();
        renumber(form);
        later();
        var focus = next && input(next, "product_name");
        if (focus) focus.focus();
      });
      row.querySelectorAll("[data-move]").forEach(function (button) {
        button.addEventListener("click", function () { move(row, button.dataset.move); button.focus(); });
      });
      row.addEventListener("keydown", function (event) {
        if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
          event.preventDefault();
          var focused = document.activeElement;
          move(row, event.key === "ArrowUp" ? "up" : "down");
          if (focused) focused.focus();
        } else if (event.key === "Enter" && event.target.matches("input") && row === body.lastElementChild) {
          event.preventDefault();
          if (!isBlank(row)) addRow(row);
        }
      });
    }

    rows(form).forEach(wire);
    form.querySelector("[data-add-line]").addEventListener("click", function () {
      var all = rows(form);
      addRow(all[all.length - 1]);
    });
    form.querySelectorAll("[data-header]").forEach(function (el) {
      el.addEventListener("input", later);
      el.addEventListener("change", later);
    });
    // Only the price lists in the quote's currency are offered.
    var currency = form.querySelector('[data-header="currency"]');
    var lists = form.querySelector('[data-header="price_list"]');
    function offerLists() {
      if (!currency || !lists) { return; }
      Array.prototype.forEach.call(lists.options, function (option) {
        var other = option.dataset.currency && option.dataset.currency !== currency.value;
        option.hidden = Boolean(other);
        option.disabled = Boolean(other);
        if (other && option.selected) { lists.value = ""; }
      });
    }
    if (currency) { currency.addEventListener("change", offerLists); }
    offerLists();

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      renumber(form);
      var sentRows = rows(form).filter(function (row) { return !isBlank(row); });
      status.textContent = "…";
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(form),
      }).then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      }).then(function (answer) {
        status.textContent = "";
        if (answer.status === 200) {
          window.location.reload();
          return;
        }
        clearErrors(form);
        if (answer.data.errors) showErrors(form, answer.data.errors, sentRows);
        else showErrors(form, { "": [answer.data.message] }, sentRows);
        var first = form.querySelector(".is-invalid");
        if (first) first.focus();
      }).catch(function () {
        status.textContent = "";
        form.submit(); // let the server answer with a page
      });
    });
    later();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-quote-editor]").forEach(editor);
  });
})();
