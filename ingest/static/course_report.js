// Draws the course report's charts from the data the page embeds (see ingest/course_report_page.py).
(function () {
  "use strict";
  const report = JSON.parse(document.getElementById("report-data").textContent);
  Chart.defaults.animation = false; // drawn once, at once: also what a screenshot needs
  Chart.defaults.font.family = "system-ui, sans-serif";

  const funnel = report.stats.funnel;
  new Chart(document.getElementById("funnel"), {
    type: "bar",
    data: {
      labels: funnel.map((c) => c.chapter_id),
      datasets: [
        { label: "Reached", data: funnel.map((c) => c.reached), backgroundColor: "#8fb8e8" },
        { label: "Completed", data: funnel.map((c) => c.completed), backgroundColor: "#2f6db5" },
        { label: "Dropped off here", data: funnel.map((c) => c.drop_off), backgroundColor: "#e0795b" },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: "learners" } } } },
  });

  const DAY = 86400000;
  const end = Date.parse(report.as_of.slice(0, 10) + "T00:00:00Z");
  const weeks = 26;
  // the grid's last column is the week of as_of; rows are ISO weekdays, Monday on top
  const endDow = (new Date(end).getUTCDay() + 6) % 7;
  const start = end - (weeks * 7 - 1 - (6 - endDow)) * DAY;
  const counts = new Map(report.activity.map((d) => [d.day, d.learners]));
  const cells = [];
  let max = 1;
  for (let t = start; t <= end; t += DAY) {
    const day = new Date(t).toISOString().slice(0, 10);
    const v = counts.get(day) ?? 0;
    max = Math.max(max, v);
    cells.push({ x: Math.floor((t - start) / DAY / 7), y: (new Date(t).getUTCDay() + 6) % 7, v, day });
  }
  const names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  new Chart(document.getElementById("heatmap"), {
    type: "matrix",
    data: {
      datasets: [{
        label: "active learners",
        data: cells,
        backgroundColor: (ctx) => {
          const v = ctx.raw?.v ?? 0;
          return v === 0 ? "#eef1f5" : `rgba(47, 109, 181, ${0.2 + 0.8 * (v / max)})`;
        },
        width: ({ chart }) => (chart.chartArea || {}).width / weeks - 2,
        height: ({ chart }) => (chart.chartArea || {}).height / 7 - 2,
      }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { title: (items) => items[0].raw.day, label: (item) => `${item.raw.v} learners` } },
      },
      scales: {
        x: { type: "linear", min: -0.5, max: weeks - 0.5, offset: false, grid: { display: false },
             afterBuildTicks: (axis) => { axis.ticks = [0, 4, 8, 12, 16, 20, 24].map((value) => ({ value })); },
             ticks: { callback: (v) => new Date(start + v * 7 * DAY).toISOString().slice(5, 10) } },
        y: { type: "linear", min: -0.5, max: 6.5, reverse: true, offset: false, grid: { display: false },
             afterBuildTicks: (axis) => { axis.ticks = names.map((_, value) => ({ value })); },
             ticks: { callback: (v) => names[v] ?? "" } },
      },
    },
  });
  document.body.dataset.charts = "drawn";
})();
