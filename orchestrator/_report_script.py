"""The run report's inline stylesheet and script (no external assets: the page works offline).

The script reads the JSON blob `#report-data`, draws the Gantt chart into `#gantt` and one
utilisation chart per model class into `#budget`, and marks each container
`data-drawn="true"` when done (what the headless-browser test checks). Every string from
the run is set with `textContent`, never parsed as HTML.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
  color: #1d2330; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde2ea; }
.sub { color: #5a6373; margin: 0 0 16px; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 8px; }
.summary div { background: #f4f6fa; border-radius: 6px; padding: 8px 10px; }
.summary b { display: block; font-size: 18px; }
.summary span { color: #5a6373; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e9ef; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f6fa; }
tr.critical td:first-child { font-weight: 600; color: #b4232f; }
td.error { text-align: left; color: #b4232f; max-width: 420px; overflow-wrap: anywhere; }
.legend { font-size: 12px; color: #5a6373; margin: 4px 0; }
.legend i { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 12px;
  vertical-align: middle; }
.chart svg { display: block; }
.chart text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.chart .axis line { stroke: #e1e5ec; }
.chart .axis text { fill: #6b7383; }
.span-run { fill: #3b7dd8; }
.span-wait { fill: #f0b429; }
.span-backoff { fill: #d64545; }
.call-error { fill: #1d2330; }
.task-bar { fill: none; stroke: #9aa3b2; stroke-width: 0.5; }
.task-bar.critical { stroke: #b4232f; stroke-width: 2; }
.label.critical { font-weight: 700; fill: #b4232f; }
.earlier { opacity: 0.45; }
.series-requests { stroke: #7a4fd0; }
.series-input_tokens { stroke: #2f9e6e; }
.series-output_tokens { stroke: #d9682b; }
.series { fill: none; stroke-width: 1.6; }
.limit { stroke: #b4232f; stroke-dasharray: 4 3; }
code { background: #f4f6fa; padding: 0 3px; border-radius: 3px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) { node.setAttribute(key, String(attrs[key])); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function text(parent, x, y, value, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = value;
    return node;
  }
  function tip(parent, value) { el("title", {}, parent).textContent = value; }
  function step(range) {
    var raw = range / 8, mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    var options = [1, 2, 5, 10];
    for (var i = 0; i < options.length; i++) {
      if (options[i] * mag >= raw) { return options[i] * mag; }
    }
    return 10 * mag;
  }
  function fmt(s) { return s >= 100 ? s.toFixed(0) + "s" : s >= 1 ? s.toFixed(1) + "s"
    : (s * 1000).toFixed(0) + "ms"; }
  function axis(svg, x0, width, top, bottom, end) {
    var g = el("g", { "class": "axis" }, svg), dt = step(end);
    for (var t = 0; t <= end + 1e-9; t += dt) {
      var x = x0 + (t / end) * width;
      el("line", { x1: x, x2: x, y1: top, y2: bottom }, g);
      text(g, x, bottom + 13, fmt(t), { "text-anchor": "middle" });
    }
  }

  function drawGantt() {
    var box = document.getElementById("gantt");
    var tasks = data.tasks.filter(function (t) { return t.spans.length > 0; });
    var end = data.makespan;
    tasks.forEach(function (t) { end = Math.max(end, t.end); });
    end = end > 0 ? end : 1;
    var labelW = 230, width = Math.max(600, (box.clientWidth || 1100) - labelW - 20);
    var row = 18, top = 6, height = top + tasks.length * row + 24;
    var svg = el("svg", { width: labelW + width + 10, height: height, role: "img" }, box);
    axis(svg, labelW, width, 0, top + tasks.length * row, end);
    tasks.forEach(function (t, i) {
      var y = top + i * row;
      var g = el("g", { "class": "task" + (t.earlier ? " earlier" : ""), "data-task": t.id },
        svg);
      var label = t.id.length > 34 ? t.id.slice(0, 33) + "\u2026" : t.id;
      text(g, labelW - 8, y + 12, label,
        { "text-anchor": "end", "class": "label" + (t.critical ? " critical" : "") });
      t.spans.forEach(function (s) {
        var x = labelW + (s[1] / end) * width;
        var w = Math.max(0.5, ((s[2] - s[1]) / end) * width);
        var r = el("rect", { x: x, y: y + 3, width: w, height: row - 6,
          "class": "span-" + s[0] }, g);
        tip(r, t.id + ": " + s[0] + " " + fmt(s[1]) + " \u2192 " + fmt(s[2]));
      });
      t.errors.forEach(function (at) {
        var mark = el("rect", { x: labelW + (at / end) * width - 1, y: y, width: 3,
          height: row, "class": "call-error" }, g);
        tip(mark, t.id + ": failed call at " + fmt(at));
      });
      var x0 = labelW + (t.start / end) * width;
      var bar = el("rect", { x: x0, y: y + 2, width: Math.max(1, ((t.end - t.start) / end)
        * width), height: row - 4, "class": "task-bar" + (t.critical ? " critical" : ""),
        "data-task": t.id }, g);
      tip(bar, t.id + " (" + t.status + "): " + fmt(t.start) + " \u2192 " + fmt(t.end) +
        ", waited " + fmt(t.waited) + ", attempts " + t.attempts +
        (t.critical ? " \u2014 on the critical path" : ""));
    });
    box.setAttribute("data-tasks", String(tasks.length));
    box.setAttribute("data-drawn", "true");
  }

  function drawBudget() {
    var box = document.getElementById("budget");
    var classes = {};
    data.buckets.forEach(function (b) { (classes[b.cls] = classes[b.cls] || []).push(b); });
    var names = Object.keys(classes).sort();
    var end = data.makespan > 0 ? data.makespan : 1;
    names.forEach(function (name) {
      classes[name].forEach(function (b) { end = Math.max(end, b.t[b.t.length - 1] || 0); });
    });
    var left = 50, width = Math.max(600, (box.clientWidth || 1100) - left - 30), h = 150;
    var pad = 10;
    names.forEach(function (name) {
      var series = classes[name];
      var ymax = 1;
      series.forEach(function (b) { b.u.forEach(function (u) { ymax = Math.max(ymax, u); }); });
      var title = document.createElement("h3");
      title.textContent = name;
      box.appendChild(title);
      var svg = el("svg", { width: left + width + 20, height: pad + h + 30,
        "data-class": name, role: "img" }, box);
      axis(svg, left, width, pad, pad + h, end);
      [0, 0.5, 1].forEach(function (f) {
        var y = pad + h - (f / ymax) * h;
        el("line", { x1: left, x2: left + width, y1: y, y2: y,
          "class": f === 1 ? "limit" : "" }, svg).style.stroke = f === 1 ? "" : "#e1e5ec";
        text(svg, left - 6, y + 4, (f * 100).toFixed(0) + "%", { "text-anchor": "end" });
      });
      series.forEach(function (b) {
        var points = b.t.map(function (t, i) {
          return (left + (t / end) * width).toFixed(1) + "," +
            (pad + h - (Math.max(0, b.u[i]) / ymax) * h).toFixed(1);
        }).join(" ");
        var line = el("polyline", { points: points, "class": "series series-" + b.bucket,
          "data-bucket": b.bucket }, svg);
        tip(line, name + " " + b.bucket + ": capacity " + Math.round(b.capacity) +
          ", refill " + (b.rate * 60).toFixed(0) + "/min");
      });
    });
    box.setAttribute("data-series", String(data.buckets.length));
    box.setAttribute("data-drawn", "true");
  }

  drawGantt();
  drawBudget();
  document.body.setAttribute("data-drawn", "true");
})();
"""
