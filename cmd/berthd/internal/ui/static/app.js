// berth dashboard: the live parts of the server-rendered pages. No inline
// script anywhere (the Content-Security-Policy forbids it): every page
// loads this file, which wires the elements that ask for it by data-*.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function showError(msg) {
    const e = $("#error");
    if (!e) return;
    e.textContent = msg;
    e.hidden = !msg;
  }

  function setLive(text) {
    const l = $("#live");
    if (l) l.textContent = text;
  }

  // htmx: the CSRF token on every request, errors to the banner.
  document.addEventListener("htmx:config:request", (ev) => {
    ev.detail.ctx.request.headers["X-CSRF-Token"] = csrf;
  });
  document.addEventListener("htmx:response:error", (ev) => {
    const ctx = ev.detail.ctx;
    ctx.swap = "none";
    showError((ctx.text || "").trim() || "request failed (" + ctx.response.status + ")");
  });
  document.addEventListener("htmx:after:request", (ev) => {
    const ctx = ev.detail.ctx;
    if (ctx.response && ctx.response.status < 400) showError("");
    // A container removed from its own page: back to the list.
    if (ctx.response && ctx.response.status === 204 && ctx.sourceElement?.closest("#c-actions")) {
      if (/\/remove$/.test(ctx.request.action)) { location.assign("/"); return; }
      refreshHead();
    }
  });
  document.addEventListener("htmx:error", (ev) => {
    if (ev.detail.error) showError(String(ev.detail.error));
  });

  function swap(el, html) {
    el.innerHTML = html;
    if (window.htmx) htmx.process(el);
  }

  // EventSource with a status line; the browser reconnects by itself.
  function source(url, handlers) {
    const es = new EventSource(url);
    es.onopen = () => setLive("live");
    es.onerror = () => setLive(es.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…");
    for (const [name, fn] of Object.entries(handlers)) es.addEventListener(name, (e) => fn(e.data));
    return es;
  }

  // Filter box: rows whose data-search lacks the text are hidden, and
  // groups with no row left.
  function applyFilter(input) {
    const root = $(input.dataset.filter);
    if (!root) return;
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const row of $$("[data-row]", root)) {
      const s = (row.dataset.search || "").toLowerCase();
      row.hidden = !words.every((w) => s.includes(w));
    }
    for (const g of $$(".group", root)) g.hidden = $$("[data-row]", g).every((r) => r.hidden);
  }
  for (const input of $$("[data-filter]")) input.addEventListener("input", () => applyFilter(input));

  // First screen: the list and counts as fragments, stats as JSON.
  const list = $("[data-live]");
  if (list) {
    const filter = $("[data-filter]");
    const stats = {};
    const paint = () => {
      for (const [id, s] of Object.entries(stats)) {
        const c = $(`[data-cpu="${id}"]`), m = $(`[data-mem="${id}"]`);
        if (c) c.textContent = s.cpu;
        if (m) m.textContent = s.mem;
      }
    };
    source(list.dataset.live, {
      list: (html) => { swap(list, html); if (filter) applyFilter(filter); paint(); },
      counts: (html) => { const c = $("#counts"); if (c) c.innerHTML = html; },
      stats: (data) => { Object.assign(stats, JSON.parse(data)); paint(); },
    });
  }

  // Container page: its state and buttons after an action.
  function refreshHead() {
    const a = $("#c-actions");
    if (!a) return;
    fetch("/fragments/containers/" + a.dataset.container + "/head").then((r) => r.text()).then((html) => {
      const h = $("#c-head");
      if (h) swap(h, html);
    });
  }

  // Logs: follow, search, timestamps.
  const log = $("#log[data-logs]");
  if (log) {
    let es = null;
    const follow = $("#log-follow"), ts = $("#log-ts"), search = $("#log-search"), dl = $("#log-download");
    const matches = (line) => !search.value || line.textContent.toLowerCase().includes(search.value.toLowerCase());
    const open = () => {
      if (es) es.close();
      log.textContent = "";
      es = source(log.dataset.logs + "?follow=" + (follow.checked ? "1" : "0"), {
        lines: (data) => {
          const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          const frag = document.createDocumentFragment();
          for (const l of JSON.parse(data)) {
            const line = document.createElement("span");
            line.className = "line" + (l.s === "e" ? " stderr" : "");
            const t = document.createElement("span");
            t.className = "ts";
            t.textContent = l.t + " ";
            line.append(t, l.l + "\n");
            line.hidden = !matches(line);
            frag.append(line);
          }
          log.append(frag);
          while (log.childElementCount > 5000) log.firstElementChild.remove();
          if (atEnd) log.scrollTop = log.scrollHeight;
        },
        end: () => { es.close(); setLive(follow.checked ? "log ended" : ""); },
      });
    };
    follow.addEventListener("change", open);
    ts.addEventListener("change", () => {
      log.classList.toggle("show-ts", ts.checked);
      dl.href = dl.href.split("?")[0] + (ts.checked ? "?timestamps=1" : "");
    });
    search.addEventListener("input", () => { for (const l of log.children) l.hidden = !matches(l); });
    open();
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      if ($(`script[src="${src}"]`)) return resolve();
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("cannot load " + src));
      document.head.append(s);
    });
  }
  function loadStyle(href) {
    if ($(`link[href="${href}"]`)) return;
    const l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = href;
    document.head.append(l);
  }

  // Terminal: xterm.js over a WebSocket.
  const termOpen = $("#term-open");
  if (termOpen) {
    let ws = null, term = null;
    const closeBtn = $("#term-close");
    termOpen.addEventListener("click", async () => {
      loadStyle("/static/vendor/xterm.css");
      await loadScript("/static/vendor/xterm.min.js");
      await loadScript("/static/vendor/addon-fit.min.js");
      const box = $("#term");
      box.textContent = "";
      term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
      const fit = new FitAddon.FitAddon();
      term.loadAddon(fit);
      term.open(box);
      fit.fit();
      const q = new URLSearchParams({ csrf, cmd: $("#term-cmd").value, cols: term.cols, rows: term.rows });
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + termOpen.dataset.exec + "?" + q);
      ws.binaryType = "arraybuffer";
      ws.onmessage = (e) => term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      ws.onclose = () => { termOpen.hidden = false; closeBtn.hidden = true; term.write("\r\n[disconnected]\r\n"); };
      ws.onopen = () => { termOpen.hidden = true; closeBtn.hidden = false; term.focus(); };
      term.onData((d) => { if (ws.readyState === 1) ws.send("i" + d); });
      term.onResize(({ cols, rows }) => { if (ws.readyState === 1) ws.send("r" + cols + "," + rows); });
      window.addEventListener("resize", () => fit.fit());
    });
    closeBtn.addEventListener("click", () => { if (ws) ws.close(); });
  }

  // Stats charts (uPlot), one sample a second, the last two minutes.
  const charts = $("[data-stats]");
  if (charts) {
    (async () => {
      loadStyle("/static/vendor/uPlot.min.css");
      await loadScript("/static/vendor/uPlot.iife.min.js");
      const N = 120;
      const mk = (name, series, fmt) => {
        const el = $(`[data-chart="${name}"]`, charts);
        const data = [[], ...series.map(() => [])];
        const opts = {
          width: Math.max(280, el.clientWidth || 400), height: 160,
          series: [{}, ...series.map((s, i) => ({ label: s, stroke: ["#2563eb", "#dc2626"][i], width: 1.5, value: (u, v) => v == null ? "" : fmt(v) }))],
          axes: [{}, { values: (u, vals) => vals.map(fmt), size: 70 }],
          scales: { x: { time: true } },
        };
        return { u: new uPlot(opts, data, el), data };
      };
      const bytes = (v) => { const u = ["B", "kB", "MB", "GB"]; let i = 0; while (v >= 1000 && i < 3) { v /= 1000; i++; } return v.toFixed(i ? 1 : 0) + " " + u[i]; };
      const c = {
        cpu: mk("cpu", ["CPU %"], (v) => v.toFixed(1) + "%"),
        mem: mk("mem", ["memory"], bytes),
        net: mk("net", ["received", "sent"], (v) => bytes(v) + "/s"),
        io: mk("io", ["read", "written"], (v) => bytes(v) + "/s"),
      };
      let prev = null;
      const push = (ch, t, ...vals) => {
        ch.data[0].push(t);
        vals.forEach((v, i) => ch.data[i + 1].push(v));
        if (ch.data[0].length > N) ch.data.forEach((a) => a.shift());
        ch.u.setData(ch.data);
      };
      source(charts.dataset.stats, {
        stats: (raw) => {
          const s = JSON.parse(raw);
          push(c.cpu, s.t, s.cpuPct);
          push(c.mem, s.t, s.memB);
          if (prev && s.t > prev.t) {
            const dt = s.t - prev.t;
            push(c.net, s.t, (s.netRx - prev.netRx) / dt, (s.netTx - prev.netTx) / dt);
            push(c.io, s.t, (s.blkR - prev.blkR) / dt, (s.blkW - prev.blkW) / dt);
          }
          prev = s;
        },
      });
    })().catch((e) => showError(String(e)));
  }

  // Events feed.
  const feed = $("[data-events]");
  if (feed) {
    source(feed.dataset.events, {
      event: (raw) => {
        const e = JSON.parse(raw);
        const tr = document.createElement("tr");
        for (const v of [e.time, e.type, e.action, e.name || (e.id || "").slice(0, 12), e.attrs]) {
          const td = document.createElement("td");
          td.textContent = v;
          tr.append(td);
        }
        feed.prepend(tr);
        while (feed.childElementCount > 500) feed.lastElementChild.remove();
      },
    });
  }

  // Image pull: the progress stream of the POST, one bar per layer.
  const pull = $("form[data-pull]");
  if (pull) {
    pull.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const box = $("#pull-progress");
      box.textContent = "";
      const layers = {};
      const line = (text) => { const p = document.createElement("p"); p.textContent = text; box.append(p); };
      const btn = $("button", pull);
      btn.disabled = true;
      try {
        const res = await fetch(pull.action, { method: "POST", body: new URLSearchParams(new FormData(pull)), headers: { "X-CSRF-Token": csrf } });
        if (!res.ok) throw new Error((await res.text()).trim());
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n")) >= 0) {
            const m = JSON.parse(buf.slice(0, i));
            buf = buf.slice(i + 1);
            if (m.error) { showError(m.error); line("failed: " + m.error); continue; }
            if (m.done) { line("pulled " + m.done.slice(0, 19)); if (window.htmx) htmx.trigger(document.body, "refresh"); continue; }
            if (m.id) {
              let l = layers[m.id];
              if (!l) {
                l = layers[m.id] = document.createElement("div");
                l.className = "layer";
                l.innerHTML = '<span class="id"></span> <progress max="1" value="0"></progress> <span class="st"></span>';
                $(".id", l).textContent = m.id;
                $("progress", l).setAttribute("aria-label", "layer " + m.id);
                box.append(l);
              }
              $(".st", l).textContent = m.status;
              const p = $("progress", l);
              if (m.total) { p.max = m.total; p.value = m.current || 0; }
              if (/complete|exists/i.test(m.status)) { p.max = 1; p.value = 1; }
            } else if (m.message) line(m.message);
          }
        }
      } catch (e) {
        showError(String(e.message || e));
      } finally {
        btn.disabled = false;
      }
    });
  }
})();
