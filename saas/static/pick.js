// Dropdowns and lookups that find entries by name, phone, email or pinyin ("zs" finds 张三).
(function () {
  "use strict";

  function normalise(text) {
    var t = (text || "").trim().toLowerCase();
    return /^[a-z ]+$/.test(t) ? t.replace(/ /g, "") : t;
  }

  // A filter box above long selects: hides options whose label and pinyin do not match.
  function filterable(select) {
    if (select.options.length <= 8 || select.disabled) return;
    var box = document.createElement("input");
    box.type = "search";
    box.className = "form-control form-control-sm mb-1";
    box.placeholder = select.form && select.form.dataset.filterPlaceholder || "…";
    box.setAttribute("aria-label", box.placeholder);
    box.setAttribute("aria-controls", select.id);
    box.addEventListener("input", function () {
      var needle = normalise(box.value);
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var hay = option.dataset.search || option.text.toLowerCase();
        option.hidden = needle !== "" && hay.indexOf(needle) === -1;
      });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        var first = Array.prototype.find.call(select.options, function (o) { return o.value && !o.hidden; });
        if (first) { first.selected = true; select.dispatchEvent(new Event("change")); }
        select.focus();
      }
    });
    select.parentNode.insertBefore(box, select);
  }

  // A typeahead beside a lookup's id input: choosing a result fills in the id.
  function lookup(input) {
    var list = document.createElement("ul");
    list.className = "list-group position-absolute shadow-sm kehu-lookup-results";
    list.setAttribute("role", "listbox");
    list.id = input.id + "-results";
    var box = document.createElement("input");
    box.type = "search";
    box.className = "form-control";
    box.placeholder = input.dataset.lookupPlaceholder || "";
    box.value = input.dataset.lookupName || "";
    box.setAttribute("role", "combobox");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);
    box.setAttribute("aria-expanded", "false");
    box.setAttribute("aria-label", box.placeholder);
    box.dataset.testid = "lookup-search-" + input.id;
    var wrap = input.parentNode;
    wrap.classList.add("position-relative");
    wrap.insertBefore(box, input);
    wrap.appendChild(list);
    input.classList.add("kehu-lookup-id");
    var timer = null;
    var active = -1;

    function close() { list.innerHTML = ""; active = -1; box.setAttribute("aria-expanded", "false"); }
    function choose(item) {
      input.value = item.dataset.id;
      box.value = item.textContent;
      close();
      input.dispatchEvent(new Event("change"));
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
    function search() {
      var url = input.dataset.lookupUrl + "?q=" + encodeURIComponent(box.value);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (body) { show(body.results || []); });
    }
    box.addEventListener("input", function () {
      clearTimeout(timer);
      if (!box.value.trim()) { input.value = ""; close(); return; }
      timer = setTimeout(search, 200);
    });
    box.addEventListener("keydown", function (event) {
      var items = list.querySelectorAll("li");
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!items.length) return;
        active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items.forEach(function (li, i) { li.classList.toggle("active", i === active); });
        box.setAttribute("aria-activedescendant", items[active].id);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(items[active]);
      } else if (event.key === "Escape") {
        close();
      }
    });
    box.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-filterable]").forEach(filterable);
    document.querySelectorAll("input[data-lookup-url]").forEach(lookup);
  });
})();
