// Print templates and documents: the editor's field picker and live preview, the record page's
// PDF button (start the job, show progress, then the download link), and the job page.
// Without this script every form still works: the PDF button opens the job page, which
// refreshes itself, and the preview button shows the preview in the frame.
(function () {
  "use strict";
  if (window.kehuPrint) return;
  window.kehuPrint = true;

  // ---- the editor ----------------------------------------------------------------------------

  function insertAtCursor(area, text) {
    var start = area.selectionStart, end = area.selectionEnd;
    area.setRangeText(text, start, end, "end");
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // What the picker inserts: a variable, a loop over a list, or an item of a list's loop.
  function snippet(name) {
    var item = name.match(/^([a-z_]+)\[\]\.(.+)$/);
    if (item) {
      var single = item[1].replace(/s$/, "");
      return "{{ " + single + "." + item[2] + " }}";
    }
    if (name === "lines" || name === "payments") {
      var one = name.replace(/s$/, "");
      return "{% for " + one + " in " + name + " %}\n  \n{% endfor %}";
    }
    if (name === "terms") return "{% for clause in terms %}{{ clause }}{% endfor %}";
    return "{{ " + name + " }}";
  }

  function setupEditor(form) {
    var source = form.querySelector("#template-source");
    var css = form.querySelector("#template-css");
    var list = document.querySelector("[data-variable-list]");
    var filter = document.querySelector("[data-variable-filter]");
    var lastArea = source;
    [source, css].forEach(function (area) {
      area.addEventListener("focus", function () { lastArea = area; });
    });
    function insertChosen() {
      if (!list || !list.value) return;
      insertAtCursor(lastArea === css ? source : lastArea, snippet(list.value));
    }
    var insertButton = document.querySelector("[data-insert-variable]");
    if (insertButton) insertButton.addEventListener("click", insertChosen);
    if (list) {
      list.addEventListener("dblclick", insertChosen);
      list.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); insertChosen(); }
      });
    }
    if (filter && list) {
      filter.addEventListener("input", function () {
        var needle = filter.value.trim().toLowerCase();
        Array.prototype.forEach.call(list.options, function (option) {
          option.hidden = needle !== "" && option.text.toLowerCase().indexOf(needle) < 0;
        });
      });
    }

    // Live preview: send the form to the frame a moment after typing stops.
    var button = form.querySelector("[data-preview-button]");
    var live = form.querySelector("[data-live-preview]");
    if (!button) return;
    var timer = null;
    function refresh() {
      timer = null;
      form.requestSubmit(button);
    }
    function later() {
      if (live && !live.checked) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(refresh, 700);
    }
    source.addEventListener("input", later);
    css.addEventListener("input", later);
    var record = form.querySelector("#preview-record");
    if (record) record.addEventListener("change", later);
    refresh();
  }

  // ---- jobs: the PDF button and the job page ---------------------------------------------------

  function poll(url, onUpdate) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (job) {
        onUpdate(job);
        if (job.status === "queued" || job.status === "running") {
          setTimeout(function () { poll(url, onUpdate); }, 800);
        }
      })
      .catch(function () { setTimeout(function () { poll(url, onUpdate); }, 2000); });
  }

  function setupPdfForm(form) {
    var status = form.querySelector("[data-pdf-status]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      status.textContent = status.dataset.working;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) { return response.json(); })
        .then(function (job) {
          if (!job.status_url) {
            button.disabled = false;
            status.textContent = job.message || status.dataset.failed;
            return;
          }
          poll(job.status_url, function (now) {
            if (now.status === "succeeded" && now.document_url) {
              button.disabled = false;
              status.textContent = "";
              var link = document.createElement("a");
              link.href = now.document_url;
              link.textContent = status.dataset.done + (now.filename ? " (" + now.filename + ")" : "");
              link.setAttribute("data-testid", "pdf-download");
              status.appendChild(link);
            } else if (now.status === "failed") {
              button.disabled = false;
              status.textContent = now.error || status.dataset.failed;
            }
          });
        })
        .catch(function () {
          button.disabled = false;
          status.textContent = status.dataset.failed;
        });
    });
  }

  function setupJobPage(box) {
    var progress = box.querySelector("[data-job-progress]");
    var count = box.querySelector("[data-job-count]");
    poll(box.dataset.printJob, function (job) {
      box.dataset.status = job.status;
      if (progress && job.total) { progress.max = job.total; progress.value = job.done || 0; }
      if (count && job.total) count.textContent = (job.done || 0) + " / " + job.total;
      var running = job.status === "queued" || job.status === "running";
      box.querySelector("[data-job-running]").hidden = !running;
      var failed = box.querySelector("[data-job-failed]");
      failed.hidden = job.status !== "failed";
      if (job.status === "failed" && job.error) failed.textContent = job.error;
      var done = box.querySelector("[data-job-done]");
      done.hidden = job.status !== "succeeded";
      if (job.status === "succeeded" && job.document_url) {
        box.querySelector("[data-job-download]").href = job.document_url;
        box.querySelector("[data-job-filename]").textContent = job.filename || "";
      }
    });
  }

  function start() {
    var editor = document.getElementById("editor-form");
    if (editor) setupEditor(editor);
    document.querySelectorAll("form[data-pdf-form]").forEach(setupPdfForm);
    document.querySelectorAll("[data-print-job]").forEach(function (box) {
      if (box.dataset.status === "queued" || box.dataset.status === "running") setupJobPage(box);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
