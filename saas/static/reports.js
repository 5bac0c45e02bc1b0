// Reports and dashboards (no inline code: the CSP forbids it).
//
// * Charts: every [data-chart] box is drawn with ECharts from the JSON next to it (the server
//   computed the figures and the list URL of every bar, slice and point); a click opens that
//   list, as the links of the table do.
// * The builder: its URL is the whole draft, so changes to the form are mirrored into the
//   address bar (the filter builder of list.js builds its URL from there) and into the save
//   form's state.
// * A report computed in the background: the page asks for the job's state and reloads when it
//   is done.
(() => {
  "use strict";

  const compactNumber = (value) =>
    typeof value === "number" ? value.toLocaleString(document.documentElement.lang || undefined, { maximumFractionDigits: 2 }) : value;

  function option(chart) {
    const tooltip = { trigger: chart.data ? "item" : "axis", confine: true, valueFormatter: compactNumber };
    if (chart.data) {
      const data = chart.data.map((p) => ({ name: p.label, value: p.value, url: p.url }));
      if (chart.type === "funnel") {
        // ECharts scales a funnel to 0–100 unless told: scale it to the largest stage.
        const largest = Math.max(0, ...data.map((p) => (typeof p.value === "number" ? p.value : 0)));
        return {
          tooltip,
          legend: { type: "scroll", bottom: 0 },
          series: [{ type: "funnel", name: chart.title, data, sort: "none", min: 0, max: largest || 1, left: "10%", width: "80%", label: { show: true, position: "inside" } }],
        };
      }
      return {
        tooltip,
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", name: chart.title, data, radius: chart.type === "donut" ? ["40%", "70%"] : "70%", avoidLabelOverlap: true }],
      };
    }
    const line = chart.type === "line";
    return {
      tooltip,
      legend: chart.series.length > 1 ? { type: "scroll", bottom: 0 } : undefined,
      grid: { left: 8, right: 16, top: 24, bottom: chart.series.length > 1 ? 40 : 8, containLabel: true },
      xAxis: { type: "category", data: chart.categories, axisLabel: { interval: 0, hideOverlap: true } },
      yAxis: { type: "value", name: chart.series.length > 1 ? chart.title : undefined },
      series: chart.series.map((s) => ({
        type: line ? "line" : "bar",
        name: s.name,
        stack: chart.stacked ? "total" : undefined,
        emphasis: { focus: "series" },
        data: s.data.map((p) => ({ value: p.value, url: p.url })),
      })),
    };
  }

  function draw(box) {
    const source = document.getElementById(box.dataset.chart);
    if (!source || !window.echarts) return;
    const chart = JSON.parse(source.textContent);
    const instance = window.echarts.init(box, null, { renderer: "canvas" });
    instance.setOption(option(chart));
    instance.on("click", (params) => {
      const url = params.data && params.data.url;
      if (url) window.location.assign(url);
    });
    box.dataset.ready = "1";
    new ResizeObserver(() => instance.resize()).observe(box);
  }

  document.querySelectorAll("[data-chart]").forEach(draw);

  // ---- the builder: keep the URL and the save form's state in step with the form ----------

  const builder = document.querySelector("form[data-builder]");
  if (builder) {
    const stateInput = document.querySelector("[data-builder-state]");
    const sync = () => {
      const search = new URLSearchParams();
      for (const [key, value] of new FormData(builder)) {
        if (key === "preview") continue;
        if (value !== "") search.append(key, value);
      }
      // The filter lives in the URL (f/logic from the filter builder, or filter as JSON).
      const current = new URLSearchParams(window.location.search);
      if (current.has("f")) {
        search.delete("filter");
        current.getAll("f").forEach((f) => search.append("f", f));
        if (current.get("logic")) search.set("logic", current.get("logic"));
      }
      const query = search.toString();
      window.history.replaceState(null, "", window.location.pathname + (query ? `?${query}` : ""));
      if (stateInput) stateInput.value = query;
    };
    builder.addEventListener("change", sync);
    builder.addEventListener("input", sync);
    sync();
  }

  // ---- background runs: wait for the job, then show the result -------------------------------

  document.querySelectorAll("[data-poll]").forEach((box) => {
    let delay = 1000;
    const ask = async () => {
      try {
        const response = await fetch(box.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
        const body = await response.json();
        if (body.status === "succeeded" || body.status === "failed") {
          window.location.reload();
          return;
        }
      } catch {
        // try again a little later
      }
      delay = Math.min(delay * 1.5, 10000);
      window.setTimeout(ask, delay);
    };
    window.setTimeout(ask, delay);
  });

  // ---- share fieldsets (when list.js is not on the page) and printing ---------------------------

  if (!document.getElementById("list-meta")) {
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
  }
  if (!document.querySelector("script[src*='print.js']")) {
    document.addEventListener("click", (event) => {
      if (event.target.closest("[data-print]")) window.print();
    });
  }
})();
