// Related lists on record pages: a tab loads its list when first opened; "Show more" appends
// the next page. Links stay real links, so everything also works without this script.
(function () {
  "use strict";

  function fetchFragment(url) {
    return fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" }).then(
      function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      }
    );
  }

  function parse(html) {
    var box = document.createElement("div");
    box.innerHTML = html;
    return box;
  }

  function bindMore(pane) {
    pane.addEventListener("click", function (event) {
      var link = event.target.closest("a.related-more");
      if (!link) return;
      event.preventDefault();
      var url = new URL(link.href, window.location.href);
      link.setAttribute("aria-busy", "true");
      fetchFragment(url.toString()).then(function (html) {
        var box = parse(html);
        var target = pane.querySelector(".related-rows");
        var rows = box.querySelector(".related-rows");
        if (target && rows) {
          Array.prototype.slice.call(rows.children).forEach(function (row) {
            target.appendChild(row);
          });
        }
        var next = box.querySelector("a.related-more");
        if (next) link.replaceWith(next);
        else link.remove();
      }).catch(function () {
        window.location.href = url.toString();
      });
    });
  }

  function init() {
    var tabs = Array.prototype.slice.call(document.querySelectorAll("[data-related-tab]"));
    if (!tabs.length) return;

    function open(tab, focus) {
      tabs.forEach(function (other) {
        var selected = other === tab;
        other.classList.toggle("active", selected);
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.setAttribute("tabindex", selected ? "0" : "-1");
        var pane = document.getElementById(other.getAttribute("aria-controls"));
        if (pane) pane.hidden = !selected;
      });
      if (focus) tab.focus();
      var pane = document.getElementById(tab.getAttribute("aria-controls"));
      if (!pane || pane.dataset.loaded) return;
      pane.dataset.loaded = "1";
      pane.textContent = "…";
      fetchFragment(tab.href).then(function (html) {
        pane.innerHTML = html;
      }).catch(function () {
        delete pane.dataset.loaded;
        window.location.href = tab.href;
      });
    }

    tabs.forEach(function (tab, index) {
      tab.setAttribute("tabindex", index === 0 ? "0" : "-1");
      var pane = document.getElementById(tab.getAttribute("aria-controls"));
      if (pane) bindMore(pane);
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        open(tab, false);
      });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (event.key === "Home") step = -index;
        if (event.key === "End") step = tabs.length - 1 - index;
        if (step === undefined) return;
        event.preventDefault();
        open(tabs[(index + step + tabs.length) % tabs.length], true);
      });
    });
    open(tabs[0], false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
